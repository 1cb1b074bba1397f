"""Captions as XMP sidecars: ``photo.xmp`` beside ``photo.jpg`` with ``dc:description``.

The photo itself is never opened for writing. An existing sidecar is parsed (defusedxml:
no entities, no DTDs) and only the ``x-default`` entry of ``dc:description`` is set; every
other property, language alternative and namespace prefix is kept. The sidecar is written
atomically (temp file + ``os.replace``). A sidecar that is not well-formed XMP is left
alone and reported, since rewriting it would lose whatever it holds.

The sidecar name follows Adobe's convention (Lightroom, Bridge, Capture One, digiKam's
default): the photo's extension is replaced by ``.xmp``, so ``photo.jpg`` and a
``photo.png`` in the same folder share one sidecar.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import xml.etree.ElementTree as ET
from pathlib import Path

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from desktop import CaptionerError
from desktop.outputs import write_atomic

X = "adobe:ns:meta/"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
DC = "http://purl.org/dc/elements/1.1/"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_STANDARD_PREFIXES = {"x": X, "rdf": RDF, "dc": DC}
# ElementTree keeps prefixes in one process-wide table.
_prefix_lock = threading.Lock()


class XmpError(CaptionerError):
    pass


def sidecar_path(photo: str | os.PathLike) -> Path:
    return Path(photo).with_suffix(".xmp")


def _new_packet() -> ET.Element:
    root = ET.Element(f"{{{X}}}xmpmeta", {f"{{{X}}}xmptk": "offline-captioner"})
    rdf = ET.SubElement(root, f"{{{RDF}}}RDF")
    ET.SubElement(rdf, f"{{{RDF}}}Description", {f"{{{RDF}}}about": ""})
    return root


def _parse(path: Path) -> tuple[ET.Element, dict[str, str]]:
    try:
        prefixes = {}
        for _event, (prefix, uri) in SafeET.iterparse(str(path), events=("start-ns",)):
            prefixes.setdefault(prefix, uri)
        return SafeET.parse(str(path)).getroot(), prefixes
    except (ET.ParseError, DefusedXmlException, OSError, UnicodeDecodeError) as e:
        raise XmpError(f"{path}: existing sidecar is not readable XMP, left unchanged ({e})") from e


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


def set_description(root: ET.Element, text: str, path: Path = Path("<xmp>")) -> None:
    node = _description_node(root, path)
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


def get_description(sidecar: str | os.PathLike) -> str | None:
    """The ``x-default`` dc:description of a sidecar, or None."""
    path = Path(sidecar)
    if not path.is_file():
        return None
    root, _ = _parse(path)
    for prop in root.iter(f"{{{DC}}}description"):
        for li in prop.iter(f"{{{RDF}}}li"):
            if li.get(XML_LANG) == "x-default":
                return li.text or ""
    return None


def write_description(photo: str | os.PathLike, text: str) -> Path:
    """Set the caption in ``photo``'s sidecar (created or merged); returns the sidecar path."""
    sidecar = sidecar_path(photo)
    if sidecar.exists():
        root, prefixes = _parse(sidecar)
    else:
        root, prefixes = _new_packet(), {}
    set_description(root, text, sidecar)
    with _prefix_lock:
        for prefix, uri in {**prefixes, **_STANDARD_PREFIXES}.items():
            # ElementTree refuses its own ns0-style names; those get a fresh name anyway.
            if prefix and not re.fullmatch(r"ns\d+", prefix):
                with contextlib.suppress(ValueError):
                    ET.register_namespace(prefix, uri)
        body = ET.tostring(root, encoding="unicode")
    try:
        write_atomic(sidecar, '<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n")
    except OSError as e:
        raise XmpError(f"{sidecar}: cannot write the sidecar ({e.strerror or e})") from e
    return sidecar
