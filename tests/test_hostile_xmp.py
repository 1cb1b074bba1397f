"""Hostile and precious XMP sidecars (issue 11, finding 6): the user's words and everything
else in the sidecar survive; unreadable sidecars are reported per photo, the run goes on."""

from __future__ import annotations

import os
import shutil
import xml.etree.ElementTree as ET

import pytest

from desktop.xmp import (
    DC,
    RDF,
    DescriptionKept,
    XmpError,
    get_description,
    set_description,
    write_description,
)
from tests import test_xmp
from tests.test_cli import run

photo = test_xmp.photo  # the fixture: a sample photo in tmp_path

LIGHTROOM = """<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<!-- written by Lightroom -->
<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="Adobe XMP Core 7.0">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <?lr-hint keep me?>
  <rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:Rating="5"/>
  <rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/">
   <!-- the family's own words -->
   <dc:description>
    <rdf:Alt><rdf:li xml:lang="x-default">Grandma's 90th birthday, Lisbon</rdf:li></rdf:Alt>
   </dc:description>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>
"""


def test_a_persons_description_is_kept(photo):
    sidecar = photo.with_suffix(".xmp")
    sidecar.write_text(LIGHTROOM, encoding="utf-8")
    with pytest.raises(DescriptionKept, match="--overwrite-descriptions"):
        write_description(photo, "A group of people at a table.")
    assert sidecar.read_text(encoding="utf-8") == LIGHTROOM


def test_the_apps_own_description_is_updated_but_an_edited_one_is_kept(photo):
    sidecar = write_description(photo, "A dog.")
    write_description(photo, "A brown dog.")  # the app's own: replaced freely
    assert get_description(sidecar) == "A brown dog."
    edited = sidecar.read_text().replace(">A brown dog.<", ">Rex, our dog<")
    sidecar.write_text(edited)
    with pytest.raises(DescriptionKept):
        write_description(photo, "A black dog.")
    assert get_description(sidecar) == "Rex, our dog"


def test_overwrite_keeps_comments_pis_the_xpacket_wrapper_and_one_description(photo):
    sidecar = photo.with_suffix(".xmp")
    sidecar.write_text(LIGHTROOM, encoding="utf-8")
    write_description(photo, "A group of people at a table.", overwrite=True)
    text = sidecar.read_text(encoding="utf-8")
    assert get_description(sidecar) == "A group of people at a table."
    for kept in (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>',
        "<!-- written by Lightroom -->",
        "<?lr-hint keep me?>",
        "<!-- the family's own words -->",
        '<?xpacket end="w"?>',
        'xmp:Rating="5"',
    ):
        assert kept in text
    assert text.index("<?xpacket begin") < text.index("<x:xmpmeta") < text.index("<?xpacket end")
    root = ET.fromstring(text.encode("utf-8"))
    assert len(root.findall(f".//{{{DC}}}description")) == 1  # edited in place, not added
    assert len(root.findall(f".//{{{RDF}}}Description")) == 2


def test_a_symlinked_sidecar_is_edited_through_the_link(photo, tmp_path):
    real = tmp_path / "library" / "party.xmp"
    real.parent.mkdir()
    link = photo.with_suffix(".xmp")
    link.symlink_to(real)
    with pytest.raises(XmpError):  # a dangling link is reported, never replaced by a file
        write_description(photo, "A cake.")
    assert link.is_symlink()
    real.write_text(LIGHTROOM, encoding="utf-8")
    write_description(photo, "A cake.", overwrite=True)
    assert link.is_symlink() and get_description(real) == "A cake."


def test_a_fifo_sidecar_is_reported_not_waited_on(photo):
    os.mkfifo(photo.with_suffix(".xmp"))
    with pytest.raises(XmpError, match="not a regular file"):
        write_description(photo, "A cake.")


def test_the_cli_reports_each_bad_sidecar_and_captions_the_rest(
    tmp_path, samples, default_model_dir, capsys
):
    folder = tmp_path / "photos"
    folder.mkdir()
    names = ["a_fifo", "b_bogus", "c_deep", "d_user", "e_plain"]
    for name in names:
        shutil.copy2(samples[0], folder / f"{name}.jpg")
    os.mkfifo(folder / "a_fifo.xmp")
    (folder / "b_bogus.xmp").write_text('<?xml version="1.0" encoding="bogus-enc"?><a/>')
    (folder / "c_deep.xmp").write_text("<a>" * 50_000 + "</a>" * 50_000)
    (folder / "d_user.xmp").write_text(LIGHTROOM, encoding="utf-8")
    out = tmp_path / "out.jsonl"
    assert run(folder, "--write-xmp", "-o", out, model=default_model_dir) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.count("warning:") == 3 and "note:" in err and "d_user.xmp" in err
    assert len(out.read_text().splitlines()) == 5  # every photo captioned
    assert get_description(folder / "e_plain.xmp")
    assert get_description(folder / "d_user.xmp") == "Grandma's 90th birthday, Lisbon"
    # Asked to, the CLI replaces the person's description.
    code = run(
        folder / "d_user.jpg", "--write-xmp", "--overwrite-descriptions", model=default_model_dir
    )
    assert code == 0
    assert get_description(folder / "d_user.xmp") != "Grandma's 90th birthday, Lisbon"


def _xmp_nested(levels: int) -> str:
    """An xmpmeta root holding an rdf:RDF, nested ``levels`` elements deep in all."""
    rdf = 'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"'
    filler = levels - 3  # xmpmeta > RDF > Description > filler…
    return (
        f'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF {rdf}><rdf:Description rdf:about="">'
        + "<a>" * filler
        + "</a>" * filler
        + "</rdf:Description></rdf:RDF></x:xmpmeta>"
    )


def test_nesting_up_to_the_limit_is_read_one_more_is_refused(photo):
    sidecar = photo.with_suffix(".xmp")
    sidecar.write_text(_xmp_nested(100))
    write_description(photo, "A cake.")
    assert get_description(sidecar) == "A cake."
    deep = _xmp_nested(101)
    sidecar.write_text(deep)
    with pytest.raises(XmpError) as info:
        write_description(photo, "A cake.")
    assert (
        str(info.value) == f"{sidecar}: existing sidecar is nested over 100 levels, left unchanged"
    )
    assert sidecar.read_text() == deep


def test_a_sidecar_of_16_mb_is_read_whole_and_one_byte_more_is_refused(photo):
    """XMP packets are padded with whitespace: a sidecar of exactly the limit is read to its
    last byte (the end marker), one a byte over is refused unread."""
    sidecar = photo.with_suffix(".xmp")
    end = '<?xpacket end="w"?>'
    body = _xmp_nested(4)
    padding = 16 * 2**20 - len(body) - len(end)
    sidecar.write_text(body + " " * padding + end)
    assert os.path.getsize(sidecar) == 16 * 2**20
    write_description(photo, "A cake.")
    # (Now a little over the limit itself: read with ElementTree, not get_description.)
    captions = [li.text for li in ET.parse(sidecar).getroot().iter(f"{{{RDF}}}li")]
    assert captions == ["A cake."] and sidecar.read_text().endswith(end)
    sidecar.write_text(body + " " * (padding + 1) + end)
    with pytest.raises(XmpError) as info:
        write_description(photo, "A cake.")
    assert str(info.value) == f"{sidecar}: existing sidecar is over 16 MB, left unchanged"
    assert os.path.getsize(sidecar) == 16 * 2**20 + 1


def test_a_prefix_seen_nowhere_else_is_kept(photo):
    """The sidecar's own prefixes are registered for writing (ElementTree would write ns0:)."""
    sidecar = photo.with_suffix(".xmp")
    uri = "http://example.invalid/qz7-only-here/"
    sidecar.write_text(test_xmp._described(f'xmlns:qz7="{uri}" qz7:Mood="calm"'))
    write_description(photo, "A cake.")
    text = sidecar.read_text()
    assert 'qz7:Mood="calm"' in text and f'xmlns:qz7="{uri}"' in text and "ns0:" not in text


def test_set_description_keeps_a_persons_words_unless_told():
    root = ET.fromstring(test_xmp._described('dc:description="Our cat Tom"'))
    with pytest.raises(DescriptionKept):
        set_description(root, "A cat.")
    set_description(root, "A cat.", overwrite=True)


def test_unreadable_sidecars_say_why(photo, tmp_path):
    sidecar = photo.with_suffix(".xmp")
    os.mkfifo(sidecar)
    with pytest.raises(XmpError) as info:
        write_description(photo, "A cake.")
    assert str(info.value) == (
        f"{sidecar}: existing sidecar is not a regular file (FIFO, device…), left unchanged"
    )
    sidecar.unlink()
    sidecar.symlink_to(tmp_path / "gone.xmp")
    with pytest.raises(XmpError) as info:
        write_description(photo, "A cake.")
    assert str(info.value) == (
        f"{sidecar}: existing sidecar is not readable XMP, left unchanged "
        "(No such file or directory)"
    )
    sidecar.unlink()
    sidecar.write_text("<a>")
    with pytest.raises(XmpError) as info:
        write_description(photo, "A cake.")
    assert str(info.value) == (
        f"{sidecar}: existing sidecar is not readable XMP, left unchanged "
        "(no element found: line 1, column 3)"
    )
    sidecar.write_text('<x:xmpmeta xmlns:x="adobe:ns:meta/"><nothing/></x:xmpmeta>')
    with pytest.raises(XmpError) as info:
        write_description(photo, "A cake.")
    assert str(info.value) == f"{sidecar}: existing sidecar has no rdf:RDF, left unchanged"


def test_a_sidecar_that_cannot_be_written_says_why(tmp_path):
    """Root (CI) may write anywhere, but not a name the file system cannot hold: the temporary
    file beside a 255-byte sidecar name is too long."""
    photo = tmp_path / ("x" * 251 + ".jpg")
    with pytest.raises(XmpError) as info:
        write_description(photo, "A cake.")
    sidecar = photo.with_suffix(".xmp")
    assert str(info.value) == f"{sidecar}: cannot write the sidecar (File name too long)"
    assert not os.path.lexists(sidecar)


def test_the_cli_keeps_a_simple_property_description(tmp_path, samples, default_model_dir, capsys):
    """Issue 21, finding 1: `caption DIR --write-xmp` erased this (exit 0, no note)."""
    folder = tmp_path / "photos"
    folder.mkdir()
    shutil.copy2(samples[0], folder / "mimi.jpg")
    content = (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
        'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
        'rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/">'
        "<dc:description>Grandma's cat Mimi, summer 1998</dc:description>"
        "</rdf:Description></rdf:RDF></x:xmpmeta>"
    )
    (folder / "mimi.xmp").write_text(content)
    assert run(folder, "--write-xmp", model=default_model_dir) == 0
    err = capsys.readouterr().err
    assert "note:" in err and "Grandma's cat Mimi" in err and "kept" in err
    assert (folder / "mimi.xmp").read_text() == content
