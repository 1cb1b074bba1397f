"""Linux installers made from the PyInstaller folder (``make dist`` → dist/captioner/).

    python packaging/linux/installers.py deb      [--app dist/captioner] [--out dist]
    python packaging/linux/installers.py appimage [--app dist/captioner] [--out dist]

``deb`` builds ``captioner_<version>_<arch>.deb`` with dpkg-deb: the app in /opt/captioner, a
``captioner`` command (/usr/bin/captioner → /opt/captioner/captioner), the menu entry and the
icon in the hicolor theme. ``Depends:`` is worked out from the app itself: every shared library
that a bundled ELF file needs and PyInstaller did not bundle (OpenGL, libxcb, Wayland, glibc …)
must come from the system, so its Debian package is a dependency.

``appimage`` builds ``Captioner.AppDir`` (AppRun, the entry and the icon at its top, the app in
usr/lib/captioner) and, when ``appimagetool`` is on the PATH (or $APPIMAGETOOL names it), the
AppImage from it. Every AppImage tool fetches the AppImage runtime from the network when it
runs, so on an offline machine the AppDir is where this stops (docs/dist.md).

Standard library only: it runs with any Python 3.11, inside or outside the project's venv.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Iterable, Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
NAME = "captioner"
DESKTOP_ENTRY = HERE / "captioner.desktop"
ICON_SVG = HERE / "captioner.svg"
ICON_PNG = HERE / "captioner.png"  # 256 × 256, rendered from the SVG (README.md here)
APPRUN = HERE / "AppRun"

# The Debian package of each shared library the frozen app may take from the system. Only the
# ones a build leaves out are used (PyInstaller bundles what it finds on the build machine,
# except glibc, OpenGL/EGL, libxcb and libdrm, which must match the system's drivers and X
# server). A library missing here stops the build rather than shipping a package that
# installs but does not start.
SONAME_PACKAGES = {
    "ld-linux-x86-64.so.2": "libc6",
    "ld-linux-aarch64.so.1": "libc6",
    "libc.so.6": "libc6",
    "libm.so.6": "libc6",
    "libdl.so.2": "libc6",
    "libpthread.so.0": "libc6",
    "librt.so.1": "libc6",
    "libresolv.so.2": "libc6",
    "libutil.so.1": "libc6",
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libOpenGL.so.0": "libopengl0",
    "libGLX.so.0": "libglx0",
    "libdrm.so.2": "libdrm2",
    "libgbm.so.1": "libgbm1",
    "libxcb.so.1": "libxcb1",
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-xinerama.so.0": "libxcb-xinerama0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libX11.so.6": "libx11-6",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libwayland-client.so.0": "libwayland-client0",
    "libwayland-cursor.so.0": "libwayland-cursor0",
    "libwayland-egl.so.1": "libwayland-egl1",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libglib-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0",
    "libdbus-1.so.3": "libdbus-1-3",
    "libpulse.so.0": "libpulse0",
    "libz.so.1": "zlib1g",
}
# Not linked, but read at run time: the bundled fontconfig reads the system's font
# configuration (and through it finds a font; fontconfig-config depends on one). Without it
# Qt draws no text at all.
DATA_PACKAGES = ("fontconfig-config",)
# Reading captions aloud: Qt's speech-dispatcher engine (bundled client library) talks to the
# speech-dispatcher service; without it the app runs espeak-ng if installed (docs/gui.md).
RECOMMENDS = "espeak-ng | speech-dispatcher"
MAINTAINER = os.environ.get("DEB_MAINTAINER", "Offline Captioner developers <captioner@invalid>")


SYNOPSIS = "describe photos in plain English, offline"  # Debian wants it under 80 characters


def project_version() -> str:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return project["version"]


# -- what the frozen app needs from the system ------------------------------------------------
def _is_elf(path: Path) -> bool:
    with path.open("rb") as f:
        return f.read(4) == b"\x7fELF"


def elf_files(app: Path) -> Iterator[Path]:
    for path in sorted(app.rglob("*")):
        if path.is_file() and not path.is_symlink() and _is_elf(path):
            yield path


def needed_from_system(app: Path) -> set[str]:
    """The sonames that some ELF file in ``app`` links and that the app does not bundle."""
    objdump = shutil.which("objdump")
    if objdump is None:
        raise SystemExit("installers.py: objdump is needed to read the app's libraries "
                         "(apt-get install binutils)")
    elfs = list(elf_files(app))
    bundled = {p.name for p in elfs} | {p.name for p in app.rglob("*.so*") if p.is_symlink()}
    needed: set[str] = set()
    for path in elfs:
        dump = subprocess.run([objdump, "-p", str(path)], capture_output=True, text=True,
                              check=True).stdout
        needed.update(re.findall(r"^\s*NEEDED\s+(\S+)", dump, flags=re.MULTILINE))
    return needed - bundled


def _glibc_version() -> str | None:
    found = os.confstr("CS_GNU_LIBC_VERSION") if hasattr(os, "confstr") else None
    return found.split()[-1] if found and found.startswith("glibc") else None


def depends(app: Path) -> list[str]:
    """The ``Depends:`` entries: the packages of the system libraries the app links, plus the
    data it reads; libc6 at least the build machine's glibc (the frozen binaries need it)."""
    sonames = needed_from_system(app)
    unknown = sorted(s for s in sonames if s not in SONAME_PACKAGES)
    if unknown:
        raise SystemExit(
            f"installers.py: the app links {', '.join(unknown)}, which it does not bundle and "
            "whose Debian package is not known: add it to SONAME_PACKAGES in " + __file__
        )
    packages = {SONAME_PACKAGES[s] for s in sonames} | set(DATA_PACKAGES)
    glibc = _glibc_version()
    return sorted(f"{p} (>= {glibc})" if p == "libc6" and glibc else p for p in packages)


# -- the files both installers carry ----------------------------------------------------------
def copy_app(app: Path, dest: Path) -> None:
    """The frozen folder, with the modes a package wants (rwxr-xr-x / rw-r--r--)."""
    shutil.copytree(app, dest, symlinks=True)
    for path in [dest, *dest.rglob("*")]:
        if path.is_symlink():
            continue
        executable = path.is_dir() or os.access(path, os.X_OK)
        path.chmod(0o755 if executable else 0o644)


def install_desktop_files(usr_share: Path) -> list[Path]:
    """The menu entry and the icons under ``usr_share`` (…/share); returns what it wrote."""
    targets = {
        DESKTOP_ENTRY: usr_share / "applications" / f"{NAME}.desktop",
        ICON_SVG: usr_share / "icons" / "hicolor" / "scalable" / "apps" / f"{NAME}.svg",
        ICON_PNG: usr_share / "icons" / "hicolor" / "256x256" / "apps" / f"{NAME}.png",
    }
    for source, target in targets.items():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        target.chmod(0o644)
    return list(targets.values())


def _architecture(tool: str) -> str:
    return subprocess.run(tool, shell=True, capture_output=True, text=True,
                          check=True).stdout.strip()


def _installed_size_kib(root: Path) -> int:
    total = sum(p.lstat().st_size for p in root.rglob("*") if not p.is_dir())
    return -(-total // 1024)


def _folded(text: str) -> str:
    """A long description as control files want it: each line indented by one space."""
    return "\n".join(f" {line}" if line else " ." for line in text.splitlines())


def control(version: str, arch: str, installed_kib: int, deps: Iterable[str]) -> str:
    long_description = (
        "Describes photos in plain English on your own computer: no network, no account,\n"
        "nothing uploaded. Caption a whole folder, hear every caption read aloud, export\n"
        "them as CSV, JSON or XMP sidecars, or let other programs on the machine ask for\n"
        "captions over a local REST service. Made to be used with a screen reader.\n"
        "\n"
        "The model (Show, Attend and Tell on LiteRT) is inside; TensorFlow is not needed."
    )
    return (
        f"Package: {NAME}\n"
        f"Version: {version}\n"
        f"Architecture: {arch}\n"
        f"Maintainer: {MAINTAINER}\n"
        f"Installed-Size: {installed_kib}\n"
        f"Depends: {', '.join(deps)}\n"
        f"Recommends: {RECOMMENDS}\n"
        "Section: graphics\n"
        "Priority: optional\n"
        f"Description: {SYNOPSIS}\n"
        f"{_folded(long_description)}\n"
    )


COPYRIGHT = """\
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: offline-captioner

Files: *
License: Apache-2.0
 On Debian systems the full text of the Apache License 2.0 is in
 /usr/share/common-licenses/Apache-2.0. The bundled third-party libraries (Qt, Python,
 NumPy, Pillow, LiteRT, …) keep their own licenses, which are in /opt/captioner/_internal.
"""


# -- the Debian package ----------------------------------------------------------------------
def build_deb(app: Path, out: Path, compression: str = "xz") -> Path:
    """``captioner_<version>_<arch>.deb`` in ``out``, built from the frozen folder ``app``."""
    if shutil.which("dpkg-deb") is None:
        raise SystemExit("installers.py: dpkg-deb is needed (apt-get install dpkg)")
    version = project_version()
    arch = _architecture("dpkg --print-architecture")
    deps = depends(app)
    out.mkdir(parents=True, exist_ok=True)
    deb = out / f"{NAME}_{version}_{arch}.deb"
    with tempfile.TemporaryDirectory(prefix="deb-", dir=out) as staging:
        root = Path(staging) / "root"
        copy_app(app, root / "opt" / NAME)
        (root / "usr" / "bin").mkdir(parents=True)
        # An absolute link: the PyInstaller bootloader follows it (/proc/self/exe) and finds
        # its _internal folder beside the real executable.
        (root / "usr" / "bin" / NAME).symlink_to(f"/opt/{NAME}/{NAME}")
        install_desktop_files(root / "usr" / "share")
        doc = root / "usr" / "share" / "doc" / NAME
        doc.mkdir(parents=True)
        (doc / "copyright").write_text(COPYRIGHT, encoding="utf-8")
        for folder in [root, *root.rglob("*")]:
            if folder.is_dir() and not folder.is_symlink():
                folder.chmod(0o755)
        # No maintainer scripts: the icon cache and the menu's MIME cache are refreshed by the
        # dpkg triggers of hicolor-icon-theme and desktop-file-utils, and nothing is written
        # outside the package's own files, so removing it leaves only the users' settings.
        debian = root / "DEBIAN"
        debian.mkdir(mode=0o755)
        (debian / "control").write_text(
            control(version, arch, _installed_size_kib(root), deps), encoding="utf-8")
        subprocess.run(
            ["dpkg-deb", "--root-owner-group", f"-Z{compression}", "--build", str(root),
             str(deb)], check=True, stdout=subprocess.DEVNULL,
        )
    return deb


# -- the AppImage ----------------------------------------------------------------------------
def build_appdir(app: Path, out: Path) -> Path:
    """``Captioner.AppDir`` in ``out``: what appimagetool turns into an AppImage."""
    appdir = out / "Captioner.AppDir"
    if appdir.exists():
        shutil.rmtree(appdir)
    copy_app(app, appdir / "usr" / "lib" / NAME)
    written = install_desktop_files(appdir / "usr" / "share")
    # The AppImage spec wants the entry and its icon at the top, and .DirIcon for file
    # managers that show the AppImage's own icon.
    for path in written:
        if path.suffix in (".desktop", ".png"):
            (appdir / path.name).symlink_to(path.relative_to(appdir))
    (appdir / ".DirIcon").symlink_to(f"{NAME}.png")
    shutil.copyfile(APPRUN, appdir / "AppRun")
    (appdir / "AppRun").chmod(0o755)
    appdir.chmod(0o755)
    return appdir


def build_appimage(appdir: Path, out: Path) -> Path | None:
    """The AppImage, when an appimagetool is at hand; None (with the reason printed) if not."""
    tool = os.environ.get("APPIMAGETOOL") or shutil.which("appimagetool")
    if not tool:
        print(
            f"installers.py: {appdir} is ready; no appimagetool here, so no AppImage was made. "
            "On a machine with one: ARCH=x86_64 appimagetool " + str(appdir),
            file=sys.stderr,
        )
        return None
    arch = _architecture("uname -m")
    image = out / f"Captioner-{project_version()}-{arch}.AppImage"
    subprocess.run([tool, str(appdir), str(image)], check=True, env={**os.environ, "ARCH": arch})
    return image


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=("deb", "appimage"))
    parser.add_argument("--app", type=Path, default=REPO / "dist" / NAME,
                        help="the PyInstaller folder (default: dist/captioner)")
    parser.add_argument("--out", type=Path, default=REPO / "dist",
                        help="where the installer goes (default: dist)")
    parser.add_argument("--compression", default="xz", choices=("xz", "gzip", "zstd", "none"),
                        help="the .deb's compression (default: xz, which every dpkg reads)")
    args = parser.parse_args(argv)
    app = args.app.resolve()
    if not (app / NAME).is_file():
        parser.error(f"no {app / NAME}: build the app first (make dist)")
    if args.kind == "deb":
        print(build_deb(app, args.out.resolve(), args.compression))
    else:
        appdir = build_appdir(app, args.out.resolve())
        print(build_appimage(appdir, args.out.resolve()) or appdir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
