"""Captions as XMP sidecars: ``photo.xmp`` beside ``photo.jpg`` with ``dc:description``, and
the objects seen in the photo as keywords (``dc:subject``, which digiKam and Lightroom read),
and the text read in the photo in the app's own ``captioner:text`` (never the description).

The photo itself is never opened for writing. An existing sidecar is parsed (defusedxml:
no entities, no DTDs), only the ``x-default`` entry of ``dc:description`` is set and
keywords not already in ``dc:subject`` are added (none removed, none repeated); every
other property, language alternative, namespace prefix, comment and processing instruction
is kept, and so is the text around the root element (the ``<?xpacket?>`` wrapper and its
padding). The sidecar is written atomically (temp file + ``os.replace``) through a symbolic
link if it is one. A sidecar that cannot be read as XMP (not well-formed, an unknown
encoding, absurdly nested, a FIFO or device) is left alone and reported, since rewriting
it would lose whatever it holds.

**A description a person wrote is kept.** The app marks the descriptions it writes (the
``captioner:caption`` property beside ``dc:description`` holds the text it wrote). Any
description the app did not write (by Lightroom, digiKam or by hand, or edited since), in
any form — an ``x-default`` entry, a simple property or attribute, an entry in another
language or with none when there is no x-default — is only replaced with
``overwrite=True`` (``--overwrite-descriptions``); otherwise ``DescriptionKept`` is raised
and the file is left as it was. An unsure caption is written as "Not sure: …".

The sidecar name follows Adobe's convention (Lightroom, Bridge, Capture One, digiKam's
default): the photo's extension is replaced by ``.xmp``, so ``photo.jpg`` and a
``photo.png`` in the same folder share one sidecar.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import stat
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from desktop import CaptionerError
from desktop.files import write_atomic
from desktop.wording import UNSURE_PREFIX  # an unsure caption's description starts with it

X = "adobe:ns:meta/"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
DC = "http://purl.org/dc/elements/1.1/"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
# The app's own mark: the description text it wrote, beside dc:description.
CAPTIONER = "https://offline-captioner.invalid/ns/1.0/"  # a name only, never fetched
MARK = f"{{{CAPTIONER}}}caption"
_STANDARD_PREFIXES = {"x": X, "rdf": RDF, "dc": DC, "captioner": CAPTIONER}
MAX_SIDECAR_BYTES = 16 * 2**20
MAX_DEPTH = 100  # XMP is a few levels deep; deeper is hostile (serialising it recurses)
# ElementTree keeps prefixes in one process-wide table.
_prefix_lock = threading.Lock()


class XmpError(CaptionerError):
    pass


class DescriptionKept(XmpError):
    """The sidecar holds a description the app did not write; it was left as it was."""


def sidecar_path(photo: str | os.PathLike) -> Path:
    return Path(photo).with_suffix(".xmp")


def _new_packet() -> ET.Element:
    root = ET.Element(f"{{{X}}}xmpmeta", {f"{{{X}}}xmptk": "offline-captioner"})
    rdf = ET.SubElement(root, f"{{{RDF}}}RDF")
    ET.SubElement(rdf, f"{{{RDF}}}Description", {f"{{{RDF}}}about": ""})
    return root


_AROUND = re.compile(r"\s*(?:(?:<\?(?:(?!\?>).)*\?>|<!--(?:(?!-->).)*-->)\s*)*", re.DOTALL)
_DECLARATION = re.compile(r"<\?xml\s(?:(?!\?>).)*\?>", re.DOTALL)


@dataclass(frozen=True)
class _Sidecar:
    root: ET.Element
    prefixes: dict[str, str]
    prolog: str  # text before the root element: declaration, <?xpacket begin?>, comments
    epilog: str  # text after it: padding, <?xpacket end?>


def _read_regular(path: Path) -> bytes:
    """The file's bytes, opened once without blocking (a FIFO would hang) and checked to be
    a regular file of sane size by what was opened."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise XmpError(
                f"{path}: existing sidecar is not a regular file (FIFO, device…), left unchanged"
            )
        if st.st_size > MAX_SIDECAR_BYTES:
            raise XmpError(f"{path}: existing sidecar is over 16 MB, left unchanged")
        return f.read(MAX_SIDECAR_BYTES + 1)


def _parse(path: Path) -> _Sidecar:
    try:
        data = _read_regular(path)
        prefixes: dict[str, str] = {}
        for _event, (prefix, uri) in SafeET.iterparse(io.BytesIO(data), events=("start-ns",)):
            prefixes.setdefault(prefix, uri)
        builder = ET.TreeBuilder(insert_comments=True, insert_pis=True)
        parser = SafeET.DefusedXMLParser(target=builder)
        parser.feed(data)
        root = parser.close()
        if _depth(root) > MAX_DEPTH:
            raise XmpError(
                f"{path}: existing sidecar is nested over {MAX_DEPTH} levels, left unchanged"
            )
        text = data.decode(_encoding(data))
    except XmpError:
        raise
    except (
        ET.ParseError,
        DefusedXmlException,
        OSError,
        UnicodeError,
        LookupError,
        ValueError,
        RecursionError,
    ) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else e
        raise XmpError(
            f"{path}: existing sidecar is not readable XMP, left unchanged ({reason})"
        ) from e
    return _Sidecar(root, prefixes, *_prolog_epilog(text))


def _depth(root: ET.Element) -> int:
    deepest, stack = 0, [(root, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > MAX_DEPTH:
            break
        stack.extend((child, depth + 1) for child in node)
    return deepest


def _encoding(data: bytes) -> str:
    # expat has decoded it already, so the declared encoding (or UTF-8/16 by BOM) is real.
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    m = re.match(rb"\s*<\?xml[^>]*encoding=[\"']([A-Za-z0-9._\-]+)", data.lstrip(b"\xef\xbb\xbf"))
    return m.group(1).decode("ascii") if m else "utf-8-sig"


def _prolog_epilog(text: str) -> tuple[str, str]:
    """The text around the root element, as it was (comments, PIs, the xpacket wrapper)."""
    text = text.lstrip("\ufeff")
    around = _AROUND.match(text)
    assert around is not None  # the pattern matches the empty string too
    prolog = around.group(0)
    # The declaration names the old encoding; the file is written as UTF-8.
    prolog = _DECLARATION.sub("", prolog, count=1).lstrip()
    # Walk back over trailing PIs/comments/space to the root's closing '>'.
    epilog_start = len(text)
    while True:
        tail = text[:epilog_start].rstrip()
        if tail.endswith("?>") and "<?" in tail:
            epilog_start = tail.rfind("<?")
        elif tail.endswith("-->") and "<!--" in tail:
            epilog_start = tail.rfind("<!--")
        else:
            epilog_start = len(tail)
            break
    return prolog, text[epilog_start:]


def _description_node(root: ET.Element, path: Path) -> ET.Element:
    rdf = root if root.tag == f"{{{RDF}}}RDF" else root.find(f".//{{{RDF}}}RDF")
    if rdf is None:
        raise XmpError(f"{path}: existing sidecar has no rdf:RDF, left unchanged")
    descriptions = rdf.findall(f"{{{RDF}}}Description")
    for node in descriptions:
        if node.find(f"{{{DC}}}description") is not None or f"{{{DC}}}description" in node.attrib:
            return node
    if descriptions:
        return descriptions[0]
    return ET.SubElement(rdf, f"{{{RDF}}}Description", {f"{{{RDF}}}about": ""})


def _x_default(node: ET.Element) -> str | None:
    """The x-default (or simple-valued) dc:description of a Description node, or None."""
    if f"{{{DC}}}description" in node.attrib:
        return node.attrib[f"{{{DC}}}description"]
    prop = node.find(f"{{{DC}}}description")
    if prop is None:
        return None
    for li in prop.iter(f"{{{RDF}}}li"):
        if li.get(XML_LANG) == "x-default":
            return li.text or ""
    return None


def _shown(node: ET.Element) -> str | None:
    """The description a photo manager shows for a Description node: the x-default entry
    or the attribute form, else the first text there is (a plain-text property, an entry
    in another language or with none), else None."""
    value = _x_default(node)
    if value is not None and value.strip():
        return value
    prop = node.find(f"{{{DC}}}description")
    texts = [] if prop is None else [t for t in prop.itertext() if t.strip()]
    return texts[0] if texts else value


def _not_the_apps(node: ET.Element, others: Iterable[ET.Element]) -> str | None:
    """The first description text in ``node`` (and in ``others``, further Description
    nodes) that the app did not write, or None.

    An app-written x-default entry may be updated although a person added other languages
    beside it (they stay, and the x-default is already the app's); with no x-default, or
    a blank one, any text in any form is what a photo manager shows, so it is a person's.
    """
    mark = node.get(MARK)
    texts: list[str] = []
    for n in (node, *others):
        if f"{{{DC}}}description" in n.attrib:
            texts.append(n.attrib[f"{{{DC}}}description"])
        prop = n.find(f"{{{DC}}}description")
        if prop is None:
            continue
        x_default = next(
            (li.text or "" for li in prop.iter(f"{{{RDF}}}li") if li.get(XML_LANG) == "x-default"),
            "",
        )
        if n is node and x_default.strip():
            texts.append(x_default)  # the other languages beside it are not what is shown
        else:
            texts.extend(prop.itertext())
    return next((t for t in texts if t.strip() and t != mark), None)


def description_text(caption: str, unsure: bool = False) -> str:
    """What goes into ``dc:description`` for a caption: an unsure one says so where photo
    managers show it (digiKam's Captions, darktable's description), since they show no
    other field of ours and ratings or labels are the person's to set."""
    return f"{UNSURE_PREFIX}{caption}" if unsure else caption


def set_description(
    root: ET.Element, text: str, path: Path = Path("<xmp>"), overwrite: bool = False
) -> None:
    node = _description_node(root, path)
    rdf = root if root.tag == f"{{{RDF}}}RDF" else root.find(f".//{{{RDF}}}RDF")
    assert rdf is not None  # _description_node refuses a sidecar without one
    others = [
        n
        for n in rdf.findall(f"{{{RDF}}}Description")
        if n is not node
        and (n.find(f"{{{DC}}}description") is not None or f"{{{DC}}}description" in n.attrib)
    ]
    theirs = _not_the_apps(node, others)
    if theirs is not None and not overwrite:
        raise DescriptionKept(
            f"{path}: has a description the app did not write ({theirs.strip()[:60]!r}), kept "
            "(--overwrite-descriptions replaces it)"
        )
    node.set(MARK, text)
    node.attrib.pop(f"{{{DC}}}description", None)  # simple-valued form: not valid for Alt
    prop = node.find(f"{{{DC}}}description")
    if prop is None:
        prop = ET.SubElement(node, f"{{{DC}}}description")
    alt = prop.find(f"{{{RDF}}}Alt")
    if alt is None:
        prop.clear()
        prop.text = None
        alt = ET.SubElement(prop, f"{{{RDF}}}Alt")
    for li in alt.findall(f"{{{RDF}}}li"):
        if li.get(XML_LANG) == "x-default":
            li.text = text
            return
    li = ET.Element(f"{{{RDF}}}li", {XML_LANG: "x-default"})
    li.text = text
    alt.insert(0, li)  # x-default comes first (XMP spec, part 1, 8.2.2.4)


def add_keywords(root: ET.Element, keywords: Iterable[str], path: Path = Path("<xmp>")) -> None:
    """Add keywords to ``dc:subject`` (an rdf:Bag), keeping those there (case-insensitive)."""
    keywords = [k for k in keywords if k and k.strip()]
    if not keywords:
        return
    node = _description_node(root, path)
    # A simple-valued dc:subject attribute is not valid XMP for a Bag; keep its word.
    keywords = [node.attrib.pop(f"{{{DC}}}subject", ""), *keywords]
    prop = node.find(f"{{{DC}}}subject")
    if prop is None:
        prop = ET.SubElement(node, f"{{{DC}}}subject")
    container = next(
        (
            prop.find(f"{{{RDF}}}{kind}")
            for kind in ("Bag", "Seq")
            if prop.find(f"{{{RDF}}}{kind}") is not None
        ),
        None,
    )
    if container is None:
        text = (prop.text or "").strip()
        prop.clear()
        container = ET.SubElement(prop, f"{{{RDF}}}Bag")
        keywords.insert(0, text)
    have = {(li.text or "").strip().lower() for li in container.findall(f"{{{RDF}}}li")}
    for keyword in keywords:
        keyword = keyword.strip()
        if keyword and keyword.lower() not in have:
            have.add(keyword.lower())
            ET.SubElement(container, f"{{{RDF}}}li").text = keyword


TEXT = f"{{{CAPTIONER}}}text"


def set_text(root: ET.Element, lines: Iterable[str], path: Path = Path("<xmp>")) -> None:
    """The text read in the photo, one line a line, in the app's own ``captioner:text``
    (no XMP schema has a field for it; it never goes into the description, which says what
    the photo shows). Without lines an earlier value of the app's is removed."""
    node = _description_node(root, path)
    node.attrib.pop(TEXT, None)
    for old in node.findall(TEXT):
        node.remove(old)
    text = "\n".join(line for line in lines if line.strip())
    if text:
        ET.SubElement(node, TEXT).text = text


def get_text(sidecar: str | os.PathLike) -> str | None:
    """The app's ``captioner:text`` of a sidecar, or None."""
    path = Path(sidecar)
    if not path.is_file():
        return None
    found = next(_parse(path).root.iter(TEXT), None)
    return None if found is None else found.text or ""


def get_keywords(sidecar: str | os.PathLike) -> list[str]:
    """The ``dc:subject`` keywords of a sidecar, in order ([] when there is none)."""
    path = Path(sidecar)
    if not path.is_file():
        return []
    root = _parse(path).root
    return [
        (li.text or "").strip()
        for prop in root.iter(f"{{{DC}}}subject")
        for li in prop.iter(f"{{{RDF}}}li")
    ]


def get_description(sidecar: str | os.PathLike) -> str | None:
    """The dc:description a photo manager shows (see ``_shown``), or None."""
    path = Path(sidecar)
    if not path.is_file():
        return None
    root = _parse(path).root
    rdf = root if root.tag == f"{{{RDF}}}RDF" else root.find(f".//{{{RDF}}}RDF")
    for node in [] if rdf is None else rdf.findall(f"{{{RDF}}}Description"):
        value = _shown(node)
        if value is not None:
            return value
    return None


def write_description(
    photo: str | os.PathLike,
    text: str,
    keywords: Iterable[str] = (),
    overwrite: bool = False,
    unsure: bool = False,
    text_lines: Iterable[str] = (),
) -> Path:
    """Set the caption in ``photo``'s sidecar (created or merged) and add ``keywords`` to the
    ones it has; returns the sidecar path. An ``unsure`` caption is written as
    "Not sure: …" (``description_text``), and recognised as the app's own when rewritten.
    ``text_lines``: the text read in the photo, into ``captioner:text`` (``set_text``).

    Raises ``DescriptionKept`` if the sidecar holds a description the app did not write
    (unless ``overwrite``; the file, keywords included, is then left as it was),
    ``XmpError`` if it cannot be read or written.
    """
    sidecar = sidecar_path(photo)
    exists = os.path.lexists(sidecar)  # a dangling link is reported, not replaced
    parsed = _parse(sidecar) if exists else _Sidecar(_new_packet(), {}, "", "")
    set_description(parsed.root, description_text(text, unsure), sidecar, overwrite=overwrite)
    add_keywords(parsed.root, keywords, sidecar)
    set_text(parsed.root, text_lines, sidecar)
    with _prefix_lock:
        for prefix, uri in {**parsed.prefixes, **_STANDARD_PREFIXES}.items():
            # ElementTree refuses its own ns0-style names; those get a fresh name anyway.
            if prefix and not re.fullmatch(r"ns\d+", prefix):
                with contextlib.suppress(ValueError):
                    ET.register_namespace(prefix, uri)
        body = ET.tostring(parsed.root, encoding="unicode")
    declaration = '<?xml version="1.0" encoding="UTF-8"?>\n'
    try:
        write_atomic(sidecar, declaration + parsed.prolog + body + (parsed.epilog or "\n"))
    except OSError as e:
        raise XmpError(f"{sidecar}: cannot write the sidecar ({e.strerror or e})") from e
    return sidecar
