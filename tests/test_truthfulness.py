"""benchmarks/truthfulness.py on small made-up captions and references (no model needed),
and the parts of benchmarks/everyday_eval.py around it: the cache and the printed table."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from benchmarks import everyday_eval
from benchmarks import truthfulness as t
from desktop.objects import Terms

REPO = Path(__file__).resolve().parent.parent
TABLE = json.loads((REPO / "converter" / "data" / "imagenet_everyday.json").read_text())

# A label table small enough to count by hand: person with a few of its synonyms, three COCO
# things, and one thing COCO does not have (as the real table's later groups).
GROUPS = [
    ["person", "person", "people", "man", "men", "woman", "women", "boy", "girl", "child"],
    ["dog", "dog", "puppy"],
    ["bench", "bench"],
    ["cat", "cat", "kitten"],
    ["mountain", "mountain", "hill"],
]
COCO = {"person", "dog", "bench", "cat"}
COCO_TERMS = Terms([g for g in GROUPS if g[0] in COCO])
ALL_TERMS = Terms(GROUPS, ["coffee"])

NO_PEOPLE = ["a bench in a park", "an empty bench", "a park bench", "trees", "a path"]
THREE_MEN = ["a man runs", "a man jogs", "the man is running", "a runner", "someone runs"]
THREE_WOMEN = ["a woman reads", "a woman with a book", "she reads", "a reader", "a book"]


def test_real_table_person_group_has_the_synonyms_the_measures_rely_on():
    terms, coco = everyday_eval.coco_terms(TABLE)
    assert "person" in coco and len(coco) == everyday_eval.COCO_CATEGORIES
    for word in ("man", "women", "lady", "guy", "child", "crowd", "gentleman", "skier"):
        assert t.names_person(f"a {word} outside", terms), word
    assert not t.names_person("a dog on a bench", terms)


def test_genders_of_a_sentence():
    assert t.genders("A man walks his dog") == {"male"}
    assert t.genders("she holds her cup") == {"female"}
    assert t.genders("a man and a woman") == {"male", "female"}
    assert t.genders("a man's hat on the shelf") == {"male"}  # the possessive counts
    # "the", "where", "shelter", "hers"... are not gendered words.
    assert t.genders("the dog where the shelter is") == set()
    assert t.genders("a person with a child") == set()


def test_reference_gender_needs_three_and_none_of_the_other():
    assert t.reference_gender(THREE_MEN) == "male"
    assert t.reference_gender(THREE_WOMEN) == "female"
    assert t.reference_gender(["a man", "a man", "a runner", "a jogger", "a person"]) is None
    assert t.reference_gender([*THREE_MEN[:3], "a woman watches"]) is None
    assert t.reference_gender(NO_PEOPLE) is None


def test_phantom_people():
    captions = {
        "a": "a man sits on a bench",  # nobody in the references: phantom
        "b": "a dog on a bench",  # nobody, and the caption says nobody: fine
        "c": "a woman walks",  # people in the references: not a person-free photo
    }
    refs = {"a": NO_PEOPLE, "b": NO_PEOPLE, "c": ["a person walks", *NO_PEOPLE[1:]]}
    assert t.phantom_people(captions, refs, COCO_TERMS) == {
        "phantom_people": 0.5,
        "phantom_people_photos": 1,
        "person_free_photos": 2,
    }


def test_gender_errors():
    captions = {
        "a": "a woman runs",  # 3 refs say man, none woman: an error
        "b": "a man runs",  # agrees
        "c": "a man and a woman read",  # refs all women: invents a man, an error
        "d": "a boy runs",  # refs undecided: worded, judged never
        "e": "a person runs",  # no gendered word: not counted at all
        "f": "his dog runs",  # a pronoun is a gendered word too; agrees
    }
    refs = {
        "a": THREE_MEN,
        "b": THREE_MEN,
        "c": THREE_WOMEN,
        "d": ["a man", "a man", "a runner", "a jogger", "a person"],
        "e": THREE_MEN,
        "f": THREE_MEN,
    }
    assert t.gender_errors(captions, refs) == {
        "gender_errors": 2 / 5,
        "gender_worded": 5,
        "gender_wrong": 2,
        "gender_judged": 4,
    }


def test_neutral_people():
    captions = {"a": "a person sits", "b": "a child plays", "c": "a man sits", "d": "a cat"}
    assert t.neutral_people(captions, COCO_TERMS) == {"neutral_people": 2 / 3, "people_named": 3}


def test_caption_object_figures_salient_and_hallucinated():
    captions = {"a": "a puppy on a bench", "b": "a cat with a man"}
    refs = {
        "a": ["a dog", "a dog lies", "a dog sleeps", "a bench", "grass"],
        "b": ["a kitten", "a cat", "a cat sleeps", "a sofa", "a pillow"],
    }
    assert t.object_figures(captions, refs, COCO_TERMS, COCO) == {
        "salient_named": 1.0,  # dog for a, cat for b
        "salient_named_where_one": 1.0,
        "objects_named": 4,  # dog, bench, cat, person
        "hallucinated": 0.25,  # the man of b
    }


def test_object_list_figures():
    objects = {
        "a": ["puppy", "dog", "person"],  # one dog (listed twice by name); no one is there
        "b": ["coffee"],  # a non-COCO thing a reference names
        "c": ["mountain", "cat"],  # the hill is there; the cat, which 3 refs name, listed too
        "d": ["bench"],  # no salient thing: counts only in "wrong"
    }
    refs = {
        "a": ["a dog", "a dog lies", "a dog sleeps", "a bench", "grass"],
        "b": ["a cup of coffee", "a cat", "a cat sleeps", "a kitten", "a table"],
        "c": ["a cat on a hill", "a cat", "a kitten", "grass", "sky"],
        "d": ["a bench", "grass", "a tree", "a park", "a path"],
    }
    assert t.object_list_figures(objects, refs, ALL_TERMS, COCO) == {
        # a names its dog, b misses its cat, c names its cat; d has no salient thing.
        "objects_salient_named": 2 / 3,
        "objects_salient_photos": 3,
        # Listed groups: a dog, person; b coffee; c mountain, cat; d bench. Wrong: person.
        "objects_wrong": 1 / 6,
        "objects_listed": 6,
    }


def test_a_listed_person_is_right_where_a_reference_names_one():
    objects = {"a": ["person"]}
    refs = {"a": ["a woman", "grass", "sky", "a field", "a tree"]}
    figures = t.object_list_figures(objects, refs, ALL_TERMS, COCO)
    assert figures["objects_wrong"] == 0.0
    # Person is never the salient thing the list must name.
    assert figures["objects_salient_photos"] == 0
    # Nothing listed: no share of wrong objects to give.
    assert t.object_list_figures({"a": []}, refs, ALL_TERMS, COCO)["objects_wrong"] is None


def test_caption_right_is_the_calibration_label_people_included():
    assert t.caption_right("a man runs", THREE_MEN, ALL_TERMS)  # person counts here
    assert t.caption_right("a hill", ["a hill", "hills", "a mountain", "sky", "x"], ALL_TERMS)
    assert not t.caption_right("a dog runs", THREE_MEN, ALL_TERMS)


def test_confidence_figures():
    captions = {"a": "a man runs", "b": "a man jogs", "c": "a dog", "d": "a cat", "e": "a cat"}
    refs = {k: THREE_MEN for k in captions}  # a and b are right, c, d and e wrong
    confidence = {"a": 0.9, "b": 0.9, "c": 0.1, "d": 0.1, "e": None}  # e: no calibration
    unsure = {"a": False, "b": True, "c": True, "d": False, "e": True}
    figures = t.confidence_figures(captions, confidence, unsure, refs, ALL_TERMS)
    # Two bins: 0.9 confident and always right (0.1 off), 0.1 and never right (0.1 off).
    assert figures["ece"] == pytest.approx(0.1)
    assert figures["unsure_when_wrong"] == 0.5  # c of c, d (e has no confidence)
    assert figures["unsure_when_right"] == 0.5  # b of a, b
    assert figures["confidence_photos"] == 4
    assert figures["caption_right"] == 0.5


def test_confidence_figures_without_any_confidence_are_none():
    figures = t.confidence_figures({"a": "a man"}, {"a": None}, {}, {"a": THREE_MEN}, ALL_TERMS)
    assert figures == {"ece": None, "unsure_when_wrong": None, "unsure_when_right": None}


REPORT_KEYS = {
    "phantom_people",
    "phantom_people_photos",
    "gender_errors",
    "gender_worded",
    "neutral_people",
    "objects_salient_named",
    "objects_wrong",
    "ece",
    "unsure_when_wrong",
    "unsure_when_right",
    "hallucinated",
    "salient_named",
}


def test_truthfulness_has_every_report_key():
    captions = {"a": "a man sits on a bench"}
    refs = {"a": NO_PEOPLE}
    row = t.truthfulness(
        captions,
        refs,
        COCO_TERMS,
        COCO,
        ALL_TERMS,
        objects={"a": ["bench", "person"]},
        confidence={"a": 0.8},
        unsure={"a": False},
    )
    assert set(row) >= REPORT_KEYS
    assert row["phantom_people"] == 1.0 and row["objects_wrong"] == 0.5
    # Right (it names the bench 3 references name) at 0.8: one bin, 0.2 off.
    assert row["ece"] == pytest.approx(0.2)
    bare = t.truthfulness(captions, refs, COCO_TERMS, COCO, ALL_TERMS)
    assert set(bare) >= REPORT_KEYS and bare["objects_wrong"] is None and bare["ece"] is None


# -- everyday_eval around it ------------------------------------------------------------------


class FakeCaptioner:
    """Stands in for ``Captioner``: a fixed result per photo, counting the calls."""

    def __init__(self):
        self.calls: list[str] = []

    def caption(self, path, options):
        self.calls.append(path.name)
        return SimpleNamespace(
            text=f"a dog near {path.name}",
            timings=SimpleNamespace(detect_ms=0.0, encode_ms=10.0, decode_ms=5.0),
            objects=(SimpleNamespace(name="dog"), SimpleNamespace(name="person")),
            confidence=0.7,
            unsure=False,
        )


def test_cache_holds_objects_and_confidence_and_drops_old_caches(tmp_path):
    cache = tmp_path / "coco-key.json"
    # The first version's cache: text and ms only, no version. It must not be trusted.
    cache.write_text(json.dumps({"x.jpg": {"text": "old", "ms": 1.0}}))
    photos = {"x.jpg": tmp_path / "x.jpg", "y.jpg": tmp_path / "y.jpg"}
    options = everyday_eval.CaptionOptions(beam_width=3, with_attention=False)
    fake = FakeCaptioner()
    said = everyday_eval.caption_set(fake, photos, options, cache)  # type: ignore[arg-type]
    assert fake.calls == ["x.jpg", "y.jpg"]
    assert said["x.jpg"] == everyday_eval.Captioned(
        text="a dog near x.jpg", ms=15.0, objects=("dog", "person"), confidence=0.7, unsure=False
    )
    stored = json.loads(cache.read_text())
    assert stored["version"] == everyday_eval.CACHE_VERSION
    assert stored["photos"]["y.jpg"]["objects"] == ["dog", "person"]
    # A rerun reads everything back without captioning.
    again = FakeCaptioner()
    assert everyday_eval.caption_set(again, photos, options, cache) == said  # type: ignore[arg-type]
    assert again.calls == []


def test_cache_key_holds_beam_bonus_and_floor(tmp_path):
    (tmp_path / "manifest.json").write_text("{}")
    bundle = SimpleNamespace(path=tmp_path)
    key = everyday_eval.cache_key(bundle, 3, 1.5, 0.2)
    assert key.endswith("-beam3-bonus1.5-floor0.2-gender0")
    assert everyday_eval.cache_key(bundle, 3, 1.5, 0.3) != key
    assert everyday_eval.cache_key(bundle, 3, 1.5, 0.2, 0.6) != key
    (tmp_path / "manifest.json").write_text('{"confidence": {}}')  # e.g. a refitted calibration
    assert everyday_eval.cache_key(bundle, 3, 1.5, 0.2) != key


def test_printed_table_has_the_truthfulness_columns():
    row = {
        "photos": 2,
        "CIDEr": 0.5,
        **t.truthfulness(
            {"a": "a man sits", "b": "a dog"},
            {"a": NO_PEOPLE, "b": NO_PEOPLE},
            COCO_TERMS,
            COCO,
            ALL_TERMS,
            objects={"a": ["person"], "b": []},
        ),
    }
    text = everyday_eval.format_table({"coco-ood-dev": row})
    header, _, line = text.splitlines()
    for heading in ("phantom people", "gender errors", "neutral people", "list wrong", "ECE"):
        assert heading in header
    assert "| coco-ood-dev | 2 | 0.500 | 50.0% | 1 |" in line
    assert "–" in line  # no confidence: shown as a dash, not as 0
    assert header.count("|") == line.count("|")
