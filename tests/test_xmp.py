"""desktop.xmp: captions into XMP sidecars, merged with what is there, photos untouched."""

from __future__ import annotations

import hashlib
import json
import shutil
import xml.etree.ElementTree as ET

import pytest

from desktop.cli import main
from desktop.xmp import (
    DC,
    RDF,
    XML_LANG,
    DescriptionKept,
    XmpError,
    get_description,
    get_keywords,
    get_text,
    sidecar_path,
    write_description,
)

LIGHTROOM_SIDECAR = """<?xml version="1.0" encoding="UTF-8"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="Adobe XMP Core 7.0">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:lr="http://ns.adobe.com/lightroom/1.0/"
    xmp:Rating="4"
    xmp:Label="Green">
   <dc:subject>
    <rdf:Bag><rdf:li>holiday</rdf:li><rdf:li>dog</rdf:li></rdf:Bag>
   </dc:subject>
   <dc:description>
    <rdf:Alt>
     <rdf:li xml:lang="x-default">old caption</rdf:li>
     <rdf:li xml:lang="de">Ein Hund am Strand</rdf:li>
    </rdf:Alt>
   </dc:description>
   <lr:hierarchicalSubject>
    <rdf:Bag><rdf:li>animals|dog</rdf:li></rdf:Bag>
   </lr:hierarchicalSubject>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
"""


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def photo(tmp_path, samples):
    path = tmp_path / "beach.jpg"
    shutil.copy2(samples[0], path)
    return path


def test_new_sidecar(photo):
    before, mtime = _digest(photo), photo.stat().st_mtime_ns
    sidecar = write_description(photo, "A dog runs on the beach.")
    assert sidecar == photo.with_suffix(".xmp") == sidecar_path(photo)
    assert get_description(sidecar) == "A dog runs on the beach."
    root = ET.parse(sidecar).getroot()
    assert root.tag == "{adobe:ns:meta/}xmpmeta"
    alt = root.find(f".//{{{DC}}}description/{{{RDF}}}Alt")
    assert [li.get(XML_LANG) for li in alt] == ["x-default"]
    text = sidecar.read_text()
    assert "<dc:description>" in text and "<rdf:Alt>" in text  # standard prefixes
    assert _digest(photo) == before and photo.stat().st_mtime_ns == mtime


def test_merge_keeps_everything_else(photo):
    sidecar = photo.with_suffix(".xmp")
    sidecar.write_text(LIGHTROOM_SIDECAR)
    # "old caption" is Lightroom's, not the app's: replaced only when asked.
    write_description(photo, "A brown dog on the sand.", overwrite=True)
    assert get_description(sidecar) == "A brown dog on the sand."
    root = ET.parse(sidecar).getroot()
    desc = root.find(f".//{{{RDF}}}Description")
    xmp_ns = "http://ns.adobe.com/xap/1.0/"
    assert desc.get(f"{{{xmp_ns}}}Rating") == "4" and desc.get(f"{{{xmp_ns}}}Label") == "Green"
    assert [li.text for li in desc.iter(f"{{{RDF}}}li")][:2] == ["holiday", "dog"]
    langs = {
        li.get(XML_LANG): li.text for li in desc.find(f"{{{DC}}}description").iter(f"{{{RDF}}}li")
    }
    assert langs == {"x-default": "A brown dog on the sand.", "de": "Ein Hund am Strand"}
    hier = desc.find("{http://ns.adobe.com/lightroom/1.0/}hierarchicalSubject")
    assert hier.find(f".//{{{RDF}}}li").text == "animals|dog"
    text = sidecar.read_text()
    # The original prefixes survive (no ns0:), and the toolkit attribute is kept.
    assert "ns0:" not in text and "lr:hierarchicalSubject" in text and 'xmp:Rating="4"' in text
    assert 'x:xmptk="Adobe XMP Core 7.0"' in text
    # Writing again changes only the caption.
    write_description(photo, "Second caption.")
    assert get_description(sidecar) == "Second caption."
    assert "Ein Hund am Strand" in sidecar.read_text()


def test_sidecar_without_a_description_gets_one(photo):
    sidecar = photo.with_suffix(".xmp")
    sidecar.write_text(
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
        'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:tiff="http://ns.adobe.com/tiff/1.0/" '
        'tiff:Orientation="1"/></rdf:RDF></x:xmpmeta>'
    )
    write_description(photo, "A cat.")
    assert get_description(sidecar) == "A cat."
    assert 'tiff:Orientation="1"' in sidecar.read_text()


RDF_OPEN = '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'


@pytest.mark.parametrize(
    "content",
    [
        f'<x:xmpmeta xmlns:x="adobe:ns:meta/">{RDF_OPEN}</rdf:RDF></x:xmpmeta>',
        f"{RDF_OPEN}</rdf:RDF>",  # a bare rdf:RDF root, as some tools write
    ],
)
def test_an_rdf_without_a_description_gets_one(photo, content):
    sidecar = photo.with_suffix(".xmp")
    sidecar.write_text(content)
    write_description(photo, "A cat.")
    assert get_description(sidecar) == "A cat."
    root = ET.parse(sidecar).getroot()
    rdf = root if root.tag == f"{{{RDF}}}RDF" else root.find(f"{{{RDF}}}RDF")
    (description,) = rdf.findall(f"{{{RDF}}}Description")
    assert description.get(f"{{{RDF}}}about") == ""


def test_x_default_comes_first_among_the_languages(photo):
    """XMP part 1, 8.2.2.4: readers that show one language take the first entry. (Those
    languages are a person's: replaced only when asked, issue 21.)"""
    sidecar = photo.with_suffix(".xmp")
    content = (
        f'<x:xmpmeta xmlns:x="adobe:ns:meta/">{RDF_OPEN}<rdf:Description rdf:about="" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:description><rdf:Alt>'
        '<rdf:li xml:lang="de">Eine Katze</rdf:li><rdf:li xml:lang="fr">Un chat</rdf:li>'
        "</rdf:Alt></dc:description></rdf:Description></rdf:RDF></x:xmpmeta>"
    )
    sidecar.write_text(content)
    with pytest.raises(DescriptionKept, match="Eine Katze"):
        write_description(photo, "A cat.")
    assert sidecar.read_text() == content
    write_description(photo, "A cat.", overwrite=True)
    alt = ET.parse(sidecar).getroot().find(f".//{{{DC}}}description/{{{RDF}}}Alt")
    assert [(li.get(XML_LANG), li.text) for li in alt] == [
        ("x-default", "A cat."),
        ("de", "Eine Katze"),
        ("fr", "Un chat"),
    ]


def test_the_description_holding_the_caption_is_edited_not_the_first(photo):
    """XMP allows several rdf:Description nodes (exiftool and darktable write one per
    namespace). Another tool put one before ours: the caption must be updated where it is,
    not added to the first node as a second dc:description."""
    sidecar = write_description(photo, "A first caption.")
    other = (
        '<rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:Rating="5"/>'
    )
    text = sidecar.read_text()
    rdf_open = text.index(">", text.index("<rdf:RDF")) + 1
    sidecar.write_text(text[:rdf_open] + other + text[rdf_open:])  # every other byte kept
    write_description(photo, "A second caption.")
    root = ET.parse(sidecar).getroot()
    descriptions = root.findall(f".//{{{RDF}}}Description")
    assert len(descriptions) == 2
    assert descriptions[0].get("{http://ns.adobe.com/xap/1.0/}Rating") == "5"
    assert descriptions[0].find(f"{{{DC}}}description") is None
    captions = [li.text for li in root.iter(f"{{{RDF}}}li") if li.get(XML_LANG) == "x-default"]
    assert captions == ["A second caption."]
    assert get_description(sidecar) == "A second caption."


@pytest.mark.parametrize(
    "content",
    [
        "<x:xmpmeta xmlns:x='adobe:ns:meta/'><unclosed>",
        "not xml at all",
        # Entity expansion ("billion laughs"): refused by defusedxml, never expanded.
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        '<!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">&lol2;</x:xmpmeta>',
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><nothing/></x:xmpmeta>',
        # Issue 11: these crashed the CLI with a traceback.
        '<?xml version="1.0" encoding="bogus-enc"?><x:xmpmeta xmlns:x="adobe:ns:meta/"/>',
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">' + "<a>" * 50_000 + "</a>" * 50_000 + "</x:xmpmeta>",
    ],
)
def test_unreadable_sidecar_is_left_alone(photo, content):
    sidecar = photo.with_suffix(".xmp")
    sidecar.write_text(content)
    with pytest.raises(XmpError, match="left unchanged"):
        write_description(photo, "A caption.")
    assert sidecar.read_text() == content


TAGGED = """<?xml version="1.0" encoding="UTF-8"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:lr="http://ns.adobe.com/lightroom/1.0/">
   <dc:subject><rdf:Bag><rdf:li>Holiday</rdf:li><rdf:li>Cat</rdf:li></rdf:Bag></dc:subject>
   <lr:hierarchicalSubject><rdf:Bag><rdf:li>Places|Rome</rdf:li></rdf:Bag></lr:hierarchicalSubject>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
"""


def test_keywords_are_merged_with_those_already_there(photo):
    sidecar = photo.with_suffix(".xmp")
    sidecar.write_text(TAGGED)
    write_description(photo, "A cat on a sofa.", ["cat", "couch", "couch"])
    # Existing keywords kept in order, a keyword already there (any case) not repeated.
    assert get_keywords(sidecar) == ["Holiday", "Cat", "couch"]
    assert get_description(sidecar) == "A cat on a sofa."
    assert "Places|Rome" in sidecar.read_text()
    # Writing again adds nothing twice.
    write_description(photo, "A cat.", ["couch"])
    assert get_keywords(sidecar) == ["Holiday", "Cat", "couch"]


def test_new_sidecar_gets_keywords_and_none_without_objects(photo):
    write_description(photo, "A cup of coffee.", ["coffee"])
    assert get_keywords(photo.with_suffix(".xmp")) == ["coffee"]
    other = photo.with_name("other.jpg")
    other.write_bytes(photo.read_bytes())
    write_description(other, "A dog.")
    assert get_keywords(other.with_suffix(".xmp")) == []
    assert "dc:subject" not in other.with_suffix(".xmp").read_text()


def test_cli_write_xmp_round_trip(tmp_path, samples, default_model_dir):
    folder = tmp_path / "photos"
    folder.mkdir()
    for p in samples[:2]:
        shutil.copy2(p, folder / p.name)
    shutil.copy2(samples[0], folder / "tagged.jpg")
    (folder / "tagged.xmp").write_text(LIGHTROOM_SIDECAR)
    digests = {p.name: (_digest(p), p.stat().st_mtime_ns) for p in folder.glob("*.jpg")}
    out = tmp_path / "out.jsonl"
    code = main(
        [
            "caption",
            str(folder),
            "--write-xmp",
            "-o",
            str(out),
            "--beam",
            "1",
            "--model",
            str(default_model_dir),
            "--no-progress",
        ]
    )
    assert code == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 3
    for record in records:
        photo = folder / record["path"].rsplit("/", 1)[1]
        # tagged.xmp's description is Lightroom's (a person's words): kept.
        expected = "old caption" if photo.name == "tagged.jpg" else record["caption"]
        assert get_description(photo.with_suffix(".xmp")) == expected
    assert {p.name: (_digest(p), p.stat().st_mtime_ns) for p in folder.glob("*.jpg")} == digests
    assert "Ein Hund am Strand" in (folder / "tagged.xmp").read_text()
    # The objects became keywords: chelsea is a cat; the others list no object.
    by_name = {r["path"].rsplit("/", 1)[1]: r for r in records}
    assert [o["name"] for o in by_name["chelsea.jpg"]["objects"]] == ["cat"]
    assert get_keywords(folder / "chelsea.xmp") == ["cat"]
    # The sidecars are not photos: a second run finds the same three files.
    assert (
        main(
            [
                "caption",
                str(folder),
                "-o",
                str(out),
                "--beam",
                "1",
                "--no-progress",
                "--model",
                str(default_model_dir),
            ]
        )
        == 0
    )
    assert len(out.read_text().splitlines()) == 3


def test_cli_reports_a_sidecar_it_cannot_write(tmp_path, samples, default_model_dir, capsys):
    photo = tmp_path / "a.jpg"
    shutil.copy2(samples[0], photo)
    photo.with_suffix(".xmp").write_text("garbage")
    code = main(
        [
            "caption",
            str(photo),
            "--write-xmp",
            "--beam",
            "1",
            "--no-progress",
            "--model",
            str(default_model_dir),
        ]
    )
    captured = capsys.readouterr()
    assert code == 1
    assert "a.xmp" in captured.err and "left unchanged" in captured.err
    assert captured.out.startswith(f"{photo}\t")  # the caption itself is still reported


def test_a_new_sidecar_is_exactly_this(photo):
    """Every byte of a new sidecar: the declaration, the toolkit name, the standard prefixes,
    the app's mark, one x-default description, keywords stripped and blank ones dropped."""
    sidecar = write_description(photo, "A dog.", ["dog", " ", "", "cat "])
    assert sidecar.read_text(encoding="utf-8") == (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<x:xmpmeta xmlns:captioner="https://offline-captioner.invalid/ns/1.0/" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns:x="adobe:ns:meta/" '
        'x:xmptk="offline-captioner"><rdf:RDF><rdf:Description rdf:about="" '
        'captioner:caption="A dog."><dc:description><rdf:Alt>'
        '<rdf:li xml:lang="x-default">A dog.</rdf:li></rdf:Alt></dc:description>'
        "<dc:subject><rdf:Bag><rdf:li>dog</rdf:li><rdf:li>cat</rdf:li></rdf:Bag></dc:subject>"
        "</rdf:Description></rdf:RDF></x:xmpmeta>\n"
    )


def _described(attributes: str = "", body: str = "") -> str:
    return (
        f'<x:xmpmeta xmlns:x="adobe:ns:meta/">{RDF_OPEN}<rdf:Description rdf:about="" '
        f'xmlns:dc="http://purl.org/dc/elements/1.1/" {attributes}>{body}'
        "</rdf:Description></rdf:RDF></x:xmpmeta>"
    )


def test_a_simple_valued_description_is_read_kept_and_replaced_as_an_alt(photo):
    """``dc:description="…"`` (an attribute, as some tools write) is a person's description:
    read, kept, and when replaced becomes the standard language alternative, once."""
    sidecar = photo.with_suffix(".xmp")
    sidecar.write_text(_described('dc:description="Our cat Tom"'))
    assert get_description(sidecar) == "Our cat Tom"
    with pytest.raises(DescriptionKept) as info:
        write_description(photo, "A cat.")
    assert str(info.value) == (
        f"{sidecar}: has a description the app did not write ('Our cat Tom'), kept "
        "(--overwrite-descriptions replaces it)"
    )
    write_description(photo, "A cat.", overwrite=True)
    root = ET.parse(sidecar).getroot()
    node = root.find(f".//{{{RDF}}}Description")
    assert f"{{{DC}}}description" not in node.attrib
    assert get_description(sidecar) == "A cat."


def test_a_long_kept_description_is_quoted_to_60_characters(photo):
    sidecar = photo.with_suffix(".xmp")
    words = "word " * 30
    sidecar.write_text(_described(f'dc:description="{words}"'))
    with pytest.raises(DescriptionKept) as info:
        write_description(photo, "A cat.")
    assert f"({words[:60]!r})" in str(info.value) and words[:61] not in str(info.value)


@pytest.mark.parametrize(
    "body",
    [
        '<dc:description><rdf:Alt><rdf:li xml:lang="x-default">  \n </rdf:li></rdf:Alt>'
        "</dc:description>",
        '<dc:description><rdf:Alt><rdf:li xml:lang="x-default"/></rdf:Alt></dc:description>',
        "<dc:description> \n </dc:description>",
        "<dc:description><rdf:Alt/></dc:description>",
    ],
    ids=["blank", "empty", "blank, no Alt", "empty Alt"],
)
def test_a_blank_or_missing_x_default_is_filled_in_without_asking(photo, body):
    sidecar = photo.with_suffix(".xmp")
    sidecar.write_text(_described(body=body))
    write_description(photo, "A cat.")
    assert get_description(sidecar) == "A cat."
    prop = ET.parse(sidecar).getroot().find(f".//{{{DC}}}description")
    assert not (prop.text or "").strip()  # the old plain text does not linger beside the Alt
    (alt,) = list(prop)
    assert alt.tag == f"{{{RDF}}}Alt"
    assert [li.get(XML_LANG) for li in alt].count("x-default") == 1


PERSONS = {
    # Issue 21, finding 1: these were erased, or put behind the app's caption.
    "simple property": "<dc:description>Grandma's cat Mimi, summer 1998</dc:description>",
    "no language": "<dc:description><rdf:Alt><rdf:li>Grandma's cat Mimi, summer 1998</rdf:li>"
    "</rdf:Alt></dc:description>",
    "en-US": '<dc:description><rdf:Alt><rdf:li xml:lang="en-US">Grandma\'s cat Mimi, summer '
    "1998</rdf:li></rdf:Alt></dc:description>",
    "blank x-default, en-US": '<dc:description><rdf:Alt><rdf:li xml:lang="x-default"> '
    '</rdf:li><rdf:li xml:lang="en-US">Grandma\'s cat Mimi, summer 1998</rdf:li></rdf:Alt>'
    "</dc:description>",
    "a Bag": "<dc:description><rdf:Bag><rdf:li>Grandma's cat Mimi, summer 1998</rdf:li>"
    "</rdf:Bag></dc:description>",
}


@pytest.mark.parametrize("body", PERSONS.values(), ids=PERSONS.keys())
def test_a_description_in_any_form_or_language_is_the_persons(photo, body):
    """Any description the app did not write is a person's: kept, byte for byte, and only
    replaced when asked (then as the standard x-default entry)."""
    sidecar = photo.with_suffix(".xmp")
    content = _described(body=body)
    sidecar.write_text(content)
    assert get_description(sidecar) == "Grandma's cat Mimi, summer 1998"  # what is shown
    with pytest.raises(DescriptionKept, match="Grandma's cat Mimi"):
        write_description(photo, "A cat on a sofa.", ["cat"])
    assert sidecar.read_text() == content
    write_description(photo, "A cat on a sofa.", overwrite=True)
    alt = ET.parse(sidecar).getroot().find(f".//{{{DC}}}description/{{{RDF}}}Alt")
    assert (alt[0].get(XML_LANG), alt[0].text) == ("x-default", "A cat on a sofa.")
    assert get_description(sidecar) == "A cat on a sofa."


def test_a_description_in_a_second_description_node_is_the_persons(photo):
    sidecar = photo.with_suffix(".xmp")
    content = (
        f'<x:xmpmeta xmlns:x="adobe:ns:meta/">{RDF_OPEN}'
        f'<rdf:Description rdf:about="" xmlns:dc="{DC}"><dc:description><rdf:Alt>'
        '<rdf:li xml:lang="x-default"/></rdf:Alt></dc:description></rdf:Description>'
        f'<rdf:Description rdf:about="" xmlns:dc="{DC}" dc:description="Mimi"/>'
        "</rdf:RDF></x:xmpmeta>"
    )
    sidecar.write_text(content)
    with pytest.raises(DescriptionKept, match="Mimi"):
        write_description(photo, "A cat.")
    assert sidecar.read_text() == content


def test_an_app_written_x_default_is_updated_beside_a_persons_translation(photo):
    sidecar = write_description(photo, "A cat.")
    text = sidecar.read_text()
    sidecar.write_text(text.replace("</rdf:Alt>", '<rdf:li xml:lang="de">Mimi</rdf:li></rdf:Alt>'))
    write_description(photo, "A cat on a sofa.")
    langs = [(li.get(XML_LANG), li.text) for li in ET.parse(sidecar).getroot().iter(f"{{{RDF}}}li")]
    assert langs == [("x-default", "A cat on a sofa."), ("de", "Mimi")]


def test_an_unsure_caption_says_so_in_the_description_and_stays_the_apps(photo):
    """Issue 22, item 3: photo managers show dc:description, so "Not sure" goes there."""
    sidecar = write_description(photo, "A cat.", unsure=True)
    assert get_description(sidecar) == "Not sure: A cat."
    # The app's own, unsure or not: rewritten without asking, either way round.
    write_description(photo, "A dog.")
    assert get_description(sidecar) == "A dog."
    write_description(photo, "A dog on a bed.", unsure=True)
    assert get_description(sidecar) == "Not sure: A dog on a bed."
    # A person's edit of it is theirs.
    sidecar.write_text(sidecar.read_text().replace(">Not sure: A dog on a bed.<", ">Rex<"))
    with pytest.raises(DescriptionKept):
        write_description(photo, "A dog.", unsure=True)


def test_get_description_and_keywords_of_no_sidecar_or_a_bare_rdf(tmp_path):
    assert get_description(tmp_path / "none.xmp") is None
    assert get_keywords(tmp_path / "none.xmp") == []
    bare = tmp_path / "bare.xmp"
    bare.write_text(f"{RDF_OPEN}<rdf:Description/></rdf:RDF>")
    assert get_description(bare) is None
    bare.write_text(
        f'{RDF_OPEN}<rdf:Description xmlns:dc="{DC}"><dc:description><rdf:Alt>'
        '<rdf:li xml:lang="x-default">A cat.</rdf:li></rdf:Alt></dc:description>'
        "</rdf:Description></rdf:RDF>"
    )
    assert get_description(bare) == "A cat."
    no_rdf = tmp_path / "no_rdf.xmp"
    no_rdf.write_text('<x:xmpmeta xmlns:x="adobe:ns:meta/"/>')
    assert get_description(no_rdf) is None


@pytest.mark.parametrize(
    "attributes, body, expected",
    [
        ('dc:subject="beach"', "", ["beach", "dog"]),
        ("", "<dc:subject> beach </dc:subject>", ["beach", "dog"]),
        (
            "",
            "<dc:subject><rdf:Seq><rdf:li>Beach</rdf:li></rdf:Seq></dc:subject>",
            ["Beach", "dog"],
        ),
        (
            "",
            "<dc:subject><rdf:Bag><rdf:li> DOG </rdf:li></rdf:Bag></dc:subject>",
            ["DOG", "beach"],
        ),
    ],
    ids=["attribute", "plain text", "Seq", "any case, spaces"],
)
def test_keywords_in_every_form_are_kept(photo, attributes, body, expected):
    """A keyword written as an attribute, as plain text or in a Seq is kept (a Bag is made
    of the first two; a Seq is used as it is), and none is added twice."""
    sidecar = photo.with_suffix(".xmp")
    sidecar.write_text(_described(attributes, body))
    write_description(photo, "A dog.", ["dog", "beach"])
    assert get_keywords(sidecar) == expected
    node = ET.parse(sidecar).getroot().find(f".//{{{RDF}}}Description")
    assert f"{{{DC}}}subject" not in node.attrib
    (container,) = list(node.find(f"{{{DC}}}subject"))
    assert container.tag == f"{{{RDF}}}{'Seq' if 'Seq' in body else 'Bag'}"


@pytest.mark.parametrize(
    "encoding, bom, declared",
    [
        ("utf-16", b"", True),
        ("utf-16-be", b"\xfe\xff", False),
        ("iso-8859-1", b"", True),
        ("ISO-8859-1", b"", True),  # encoding names in any case
        ("utf-8", b"\xef\xbb\xbf", False),
        ("utf-8", b"\xef\xbb\xbf", True),  # a BOM before the declaration
        ("utf-8", b"", True),
        ("utf-8", b"", False),
    ],
)
def test_a_sidecar_in_any_encoding_is_rewritten_as_utf8_with_its_text(
    photo, encoding, bom, declared
):
    sidecar = photo.with_suffix(".xmp")
    declaration = f'<?xml version="1.0" encoding="{encoding}"?>\n' if declared else ""
    content = (
        f"{declaration}<!-- Café -->\n"
        + _described('xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:Label="Grün"')
        + "\n<!-- fin -->\n"
    )
    sidecar.write_bytes(bom + content.encode(encoding))
    write_description(photo, "A café.")
    text = sidecar.read_bytes().decode("utf-8")
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<!-- Café -->\n<x:xmpmeta')
    assert text.endswith("</x:xmpmeta>\n<!-- fin -->\n")
    assert text.count("<?xml") == 1 and 'xmp:Label="Grün"' in text
    assert get_description(sidecar) == "A café."


def test_blank_keywords_add_no_subject(photo):
    sidecar = write_description(photo, "A dog.", [" ", "", "\t"])
    assert "dc:subject" not in sidecar.read_text()


def test_a_subject_both_as_attribute_and_as_text_keeps_both_in_order(photo):
    sidecar = photo.with_suffix(".xmp")
    sidecar.write_text(_described('dc:subject="sun"', "<dc:subject>beach</dc:subject>"))
    write_description(photo, "A dog.", ["dog"])
    assert get_keywords(sidecar) == ["beach", "sun", "dog"]


def test_a_language_on_the_property_itself_is_not_the_description(photo):
    """xml:lang may sit on dc:description too (RDF lets it be inherited): the x-default
    entry is still the rdf:li's text, not the property's whitespace."""
    sidecar = photo.with_suffix(".xmp")
    sidecar.write_text(
        _described(
            body='<dc:description xml:lang="x-default">\n <rdf:Alt>'
            '<rdf:li xml:lang="x-default">Our cat Tom</rdf:li></rdf:Alt></dc:description>'
        )
    )
    assert get_description(sidecar) == "Our cat Tom"


def test_text_read_in_the_photo_goes_beside_the_description_never_into_it(photo):
    sidecar = photo.with_suffix(".xmp")
    sidecar.write_text(LIGHTROOM_SIDECAR.replace("old caption", "My dog at the station"))
    # A person's description: the file is left as it was, text and all.
    with pytest.raises(DescriptionKept):
        write_description(photo, "A dog.", text_lines=["EXIT", "Platform 3"])
    assert get_text(sidecar) is None
    sidecar.unlink()
    write_description(photo, "A sign on a wall.", text_lines=["EXIT", "Platform <3> & 4"])
    assert get_description(sidecar) == "A sign on a wall."
    assert get_text(sidecar) == "EXIT\nPlatform <3> & 4"
    assert "<captioner:text>" in sidecar.read_text()
    # Captioned again with no text read: the app's own text property goes, once.
    write_description(photo, "A sign on a wall.")
    assert get_text(sidecar) is None and get_description(sidecar) == "A sign on a wall."
