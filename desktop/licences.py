"""What the app and its model are made of, and under which licences (About, `captioner
licences`): the bundle's own ``NOTICE.md`` and licence texts (format 4 ships them, as the
Apache-2.0 parts require), after one line on the app itself."""

from __future__ import annotations

from desktop.bundle import Bundle

APP = (
    "Captioner: an offline image captioner (Show, Attend and Tell on LiteRT). Its libraries "
    "(Qt, Python, NumPy, Pillow, LiteRT, …) keep their own licences, shipped beside them."
)


def notice(bundle: Bundle) -> str:
    """The model's parts, their origin and licence (Markdown), or a line saying it has none."""
    if bundle.notice is None:
        return f"The model {bundle.name!r} lists no third-party parts."
    return bundle.notice.read_text(encoding="utf-8").strip()


def licence_texts(bundle: Bundle) -> list[tuple[str, str]]:
    """``(file name, text)`` of each licence the bundle ships."""
    return [(p.name, p.read_text(encoding="utf-8")) for p in bundle.licences]


def full_text(bundle: Bundle) -> str:
    parts = [APP, "", notice(bundle)]
    for name, text in licence_texts(bundle):
        parts += ["", f"--- {name} ---", text.rstrip()]
    return "\n".join(parts) + "\n"
