"""The Linux installers (packaging/linux/installers.py), made from the frozen app that
tests/test_dist.py also runs (conftest.py builds it once per test run).

The Debian package is installed with dpkg into this machine's real /opt and /usr (CI runs as
root), run from there as a user would (the ``captioner`` command, the menu entry's command
line), and removed again, always, even when a test fails. It skips when not root, without dpkg,
or when a captioner package or /opt/captioner is already there (it never replaces them).
The AppDir is run through its AppRun.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.frozen_app import (
    assert_captions_samples_like_the_source_tree,
    assert_screenshot_shows_captioned_photos,
    first_run_env,
)

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "packaging" / "linux" / "installers.py"
PACKAGE = "captioner"
# Only the system's folders: a `captioner` of a developer's venv must not answer instead.
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
ICON_DIR = Path("/usr/share/icons/hicolor")


def _load_installers():
    spec = importlib.util.spec_from_file_location("linux_installers", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


installers = _load_installers()


def _make(kind: str, app: Path, out: Path, *options: str) -> Path:
    """``installers.py KIND`` as `make deb` / `make appimage` run it; the path it printed."""
    done = subprocess.run(
        [sys.executable, str(SCRIPT), kind, "--app", str(app), "--out", str(out), *options],
        capture_output=True, text=True, timeout=900,  # a hang guard, not a speed test
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return Path(done.stdout.strip().splitlines()[-1])


def _run(*command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    if check:
        assert done.returncode == 0, f"{shlex.join(command)}:\n{done.stdout}{done.stderr}"
    return done


def _package_status() -> str:
    """dpkg's word for the captioner package: installed, config-files, not-installed …"""
    done = _run("dpkg-query", "-W", "-f=${db:Status-Status}", PACKAGE, check=False)
    return done.stdout.strip() if done.returncode == 0 else "not-installed"


def _desktop_entry(path: Path) -> dict[str, str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "[Desktop Entry]", lines[0]
    return dict(line.split("=", 1) for line in lines[1:] if "=" in line
                and not line.startswith("#"))


def _assert_valid_desktop_entry(path: Path) -> None:
    validate = shutil.which("desktop-file-validate")
    if validate is None:
        pytest.skip("desktop-file-validate is not installed (apt-get install desktop-file-utils)")
    done = _run(validate, str(path), check=False)
    # Hints are advice (the entry names two main categories on purpose: see the entry).
    problems = [line for line in done.stdout.splitlines() if ": hint: " not in line]
    assert done.returncode == 0 and not problems, done.stdout + done.stderr


# -- the package ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def deb(frozen_app: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("dpkg-deb") is None:
        pytest.skip("dpkg-deb is not installed: this is not a Debian-based system")
    # Uncompressed: the very files of `make deb`'s xz package, without minutes of xz.
    return _make("deb", frozen_app, tmp_path_factory.mktemp("deb"), "--compression", "none")


def _contents(deb: Path) -> dict[str, str]:
    """Each path in the package, as installed → its kind: "d" folder, "-" file, "l" link."""
    contents = {}
    for line in _run("dpkg-deb", "--contents", str(deb)).stdout.splitlines():
        name = line.split(maxsplit=5)[5].partition(" -> ")[0]
        contents["/" + name.removeprefix("./").rstrip("/")] = line[0]
    return contents


def test_package_holds_the_app_the_command_the_entry_and_the_icons(deb: Path,
                                                                    frozen_app: Path) -> None:
    contents = _contents(deb)
    app_files = {f"/opt/{PACKAGE}/{p.relative_to(frozen_app).as_posix()}"
                 for p in frozen_app.rglob("*")}
    assert app_files <= contents.keys(), sorted(app_files - contents.keys())[:10]
    # Outside the app's folder only the command, the menu entry, the icons and the copyright:
    # nothing that could clash with another package's files.
    assert {p for p, kind in contents.items()
            if kind != "d" and not p.startswith(f"/opt/{PACKAGE}/")} == {
        f"/usr/bin/{PACKAGE}", f"/usr/share/applications/{PACKAGE}.desktop",
        f"{ICON_DIR}/scalable/apps/{PACKAGE}.svg", f"{ICON_DIR}/256x256/apps/{PACKAGE}.png",
        f"/usr/share/doc/{PACKAGE}/copyright",
    }
    link = _run("dpkg-deb", "--contents", str(deb)).stdout
    assert f"./usr/bin/{PACKAGE} -> /opt/{PACKAGE}/{PACKAGE}\n" in link

    fields = dict(
        line.split(": ", 1) for line in _run("dpkg-deb", "--field", str(deb)).stdout.splitlines()
        if ": " in line and not line.startswith(" ")
    )
    assert fields["Package"] == PACKAGE
    assert fields["Version"] == installers.project_version()
    assert fields["Architecture"] == _run("dpkg", "--print-architecture").stdout.strip()
    # No maintainer scripts: dpkg's triggers refresh the icon and menu caches.
    info = _run("dpkg-deb", "--info", str(deb)).stdout
    assert not {"preinst", "postinst", "prerm", "postrm"} & set(info.split()), info


def test_package_depends_on_every_system_library_the_app_links(deb: Path,
                                                               frozen_app: Path) -> None:
    """Each library the bundle leaves to the system, found on this machine, belongs to a
    package in ``Depends:`` (asked of dpkg itself, not of installers.py's table)."""
    fields = _run("dpkg-deb", "--field", str(deb), "Depends").stdout
    depends = {entry.split()[0] for entry in fields.replace("\n", " ").split(",")}
    assert "libc6" in depends and "libgl1" in depends and "libegl1" in depends, depends
    cache = _run("ldconfig", "-p", check=False).stdout
    checked = []
    for soname in sorted(installers.needed_from_system(frozen_app)):
        paths = [line.rsplit(" => ", 1)[1] for line in cache.splitlines()
                 if line.strip().startswith(soname + " ") and " => " in line]
        if not paths:
            continue  # not on this machine: dpkg cannot say whose it is
        owner = _run("dpkg", "-S", os.path.realpath(paths[0]), check=False)
        if owner.returncode != 0:
            owner = _run("dpkg", "-S", paths[0], check=False)
        if owner.returncode != 0:
            continue  # a library installed by hand, not by a package
        package = owner.stdout.split(":")[0].split(",")[0].strip()
        assert package in depends, f"{soname} is {package}'s, which Depends: lacks"
        checked.append(soname)
    assert "libGL.so.1" in checked or "libEGL.so.1" in checked, checked


@dataclass(frozen=True)
class Installed:
    deb: Path
    there_before: frozenset[str]  # the package's folders that other packages own too (/usr …)


@pytest.fixture(scope="module")
def installed(deb: Path) -> Iterator[Installed]:
    """The package installed with ``dpkg -i``, and removed at the end whatever happens."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip("installing a .deb into /opt and /usr needs root (CI runs as root)")
    if shutil.which("dpkg") is None:
        pytest.skip("dpkg is not installed: this is not a Debian-based system")
    if _package_status() != "not-installed":
        pytest.skip(f"a {PACKAGE} package is already on this machine; the test leaves it be")
    for path in (f"/opt/{PACKAGE}", f"/usr/bin/{PACKAGE}"):
        if os.path.lexists(path):
            pytest.skip(f"{path} exists and is no package's; the test will not overwrite it")
    depends = _run("dpkg-deb", "--field", str(deb), "Depends").stdout
    missing = [name for name in (e.split()[0] for e in depends.replace("\n", " ").split(","))
               if "install ok installed" not in
               _run("dpkg-query", "-W", "-f=${Status}", name, check=False).stdout]
    if missing:
        pytest.skip(f"the package's dependencies are not installed: {' '.join(missing)} "
                    "(.ci/apt-packages.txt lists them for CI)")
    there_before = frozenset(p for p in _contents(deb) if os.path.lexists(p))
    try:
        _run("dpkg", "--install", str(deb))
        yield Installed(deb, there_before)
    finally:
        if _package_status() != "not-installed":
            subprocess.run(["dpkg", "--purge", PACKAGE], capture_output=True, timeout=600)


def test_installed_command_captions_like_the_source_tree(installed: Installed, tmp_path: Path,
                                                         samples: list[Path],
                                                         captioner) -> None:
    env = {**first_run_env(tmp_path), "PATH": SYSTEM_PATH}
    command = shutil.which(PACKAGE, path=SYSTEM_PATH)
    assert command == f"/usr/bin/{PACKAGE}", command
    assert os.path.realpath(command) == f"/opt/{PACKAGE}/{PACKAGE}"
    assert_captions_samples_like_the_source_tree(Path(command), env, tmp_path, samples,
                                                 captioner)
    # Nothing installed is left for ldd to look for (with the package's Depends present).
    app = Path(f"/opt/{PACKAGE}")
    for elf in list(installers.elf_files(app))[::5]:
        linked = _run("ldd", str(elf), check=False).stdout
        assert "not found" not in linked, f"{elf}:\n{linked}"


def test_menu_entry_opens_the_photos_a_file_manager_passes(installed: Installed,
                                                            tmp_path: Path,
                                                            samples: list[Path]) -> None:
    """The menu entry's command line, with ``%F`` replaced by two photos as a file manager's
    Open With does, opens those photos in the installed app (offscreen here)."""
    from PIL import Image

    from desktop import settings as settings_store

    entry_path = Path(f"/usr/share/applications/{PACKAGE}.desktop")
    _assert_valid_desktop_entry(entry_path)
    entry = _desktop_entry(entry_path)
    assert entry["Exec"] == f"{PACKAGE} gui %F", entry["Exec"]
    assert shutil.which(entry["TryExec"], path=SYSTEM_PATH) == f"/usr/bin/{PACKAGE}"
    assert {"image/jpeg", "image/png"} <= set(entry["MimeType"].split(";"))
    for icon in (ICON_DIR / "scalable" / "apps" / f"{entry['Icon']}.svg",
                 ICON_DIR / "256x256" / "apps" / f"{entry['Icon']}.png"):
        assert icon.is_file(), icon
    assert Image.open(ICON_DIR / "256x256" / "apps" / f"{entry['Icon']}.png").size == (256, 256)

    chosen = [str(p) for p in samples[:2]]
    argv = shlex.split(entry["Exec"])
    argv[argv.index("%F"):argv.index("%F") + 1] = chosen
    shot = tmp_path / "window.png"
    env = {**first_run_env(tmp_path), "PATH": SYSTEM_PATH, "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run(
        [*argv, "--screenshot", str(shot), "--exit-when-done"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert_screenshot_shows_captioned_photos(shot)
    # The folder of the photos is the one remembered (in the user's own config folder).
    config = Path(env["XDG_CONFIG_HOME"]) / PACKAGE / settings_store.FILE_NAME
    assert config.is_file(), sorted(tmp_path.rglob("*.json"))
    assert settings_store.load(config).last_folder == str(samples[0].parent.resolve())


def test_removal_leaves_nothing_behind(installed: Installed) -> None:
    """``dpkg -r`` (what ``apt remove`` runs) takes away every file and folder the package
    brought, even after the app has run; the users' settings are in their home folders."""
    listed = [os.path.normpath(p) for p in _run("dpkg", "--listfiles", PACKAGE).stdout.split("\n")
              if p]  # "/." is dpkg's name for the root
    assert f"/opt/{PACKAGE}/{PACKAGE}" in listed and f"/usr/bin/{PACKAGE}" in listed
    done = _run("dpkg", "--remove", PACKAGE)
    # dpkg keeps a shared folder the package listed (/opt where no package owns it) when
    # something else is in it; it may never keep one of the package's own.
    kept = re.findall(r"directory '([^']+)' not empty", done.stdout + done.stderr)
    assert set(kept) <= installed.there_before, done.stdout + done.stderr
    assert _package_status() == "not-installed"  # no conffiles: nothing kept for a purge
    left = [p for p in listed if p not in installed.there_before and os.path.lexists(p)]
    assert left == []
    assert not os.path.lexists(f"/opt/{PACKAGE}")


# -- the AppImage's folder --------------------------------------------------------------------
def test_appdir_runs_the_app_through_apprun(frozen_app: Path, tmp_path: Path,
                                            samples: list[Path], captioner) -> None:
    appdir = tmp_path / "Captioner.AppDir"
    made = _make("appimage", frozen_app, tmp_path)
    assert made in (appdir, *tmp_path.glob("Captioner-*.AppImage")), made
    apprun = appdir / "AppRun"
    assert apprun.is_file() and os.access(apprun, os.X_OK)
    # What appimagetool and AppImage launchers read: the entry and its icon at the top.
    entry = _desktop_entry(appdir / f"{PACKAGE}.desktop")
    assert (appdir / f"{entry['Icon']}.png").is_file()
    assert (appdir / ".DirIcon").resolve() == (appdir / f"{entry['Icon']}.png").resolve()
    # From another folder, as an AppImage's runtime starts it.
    assert_captions_samples_like_the_source_tree(apprun, first_run_env(tmp_path), tmp_path,
                                                 samples, captioner)
    _assert_valid_desktop_entry(appdir / f"{PACKAGE}.desktop")
