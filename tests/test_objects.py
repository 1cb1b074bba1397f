"""Objects: the ImageNet → everyday-name table, the naming of class probabilities, and the
words that name the same thing (desktop/objects.py, converter/data/imagenet_everyday.json)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from desktop.objects import DetectedObject, ObjectNamer, Terms

ROOT = Path(__file__).resolve().parent.parent
TABLE = ROOT / "converter" / "data" / "imagenet_everyday.json"
DROP_REASONS = {"person", "jargon", "unspecific", "place", "alarming"}
# Capitalised words a listener says that way; every other name is lower case.
PROPER = {"CD", "TV", "T-shirt", "Christmas", "French"}
# WordNet / ImageNet words no one says for a photo: none may be an everyday name.
JARGON = {
    "tabby", "egyptian", "espresso", "tench", "brambling", "junco", "water ouzel", "coucal",
    "jacamar", "drake", "tusker", "dowitcher", "limpkin", "ruddy turnstone", "dunlin",
    "chiton", "isopod", "siamang", "guenon", "indri", "agaric", "gyromitra", "bolete",
    "consomme", "carbonara", "cuirass", "chiffonier", "shako", "ocelot", "bearskin",
    "sorrel", "hartebeest", "impala", "beagle", "chihuahua", "retriever", "terrier",
    "spaniel", "poodle", "grouse", "ptarmigan", "loggerhead", "crampfish",
}  # fmt: skip


@pytest.fixture(scope="module")
def table() -> dict:
    return json.loads(TABLE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def namer(table) -> ObjectNamer:
    return ObjectNamer(table, threshold=0.2, max_objects=5)


def test_every_imagenet_class_is_named_or_deliberately_dropped(table):
    classes = table["classes"]
    assert [c["id"] for c in classes] == list(range(1000))
    assert table["rule"] and table["groups_rule"]
    for c in classes:
        assert c["imagenet"], c
        if c["name"] is None:
            assert c.get("dropped") in DROP_REASONS, c
        else:
            assert "dropped" not in c, c
    dropped = [c for c in classes if c["name"] is None]
    assert 0 < len(dropped) < 50  # dropping is the exception


def test_names_are_plain_everyday_words(table):
    for c in table["classes"]:
        name = c["name"]
        if name is None:
            continue
        assert name == name.strip() and "," not in name and "(" not in name, c
        assert len(name.split()) <= 4, c
        for word in name.split():
            assert word in PROPER or word == word.lower(), c
        assert not set(re.split(r"[ -]", name.lower())) & JARGON, c
        assert name.lower() not in JARGON, c


@pytest.mark.parametrize(
    ("class_id", "name"),
    [
        (281, "cat"),  # tabby
        (285, "cat"),  # Egyptian cat
        (967, "coffee"),  # espresso
        (162, "dog"),  # beagle
        (19, "bird"),  # chickadee
        (657, "rocket or missile"),
        (504, "cup"),  # coffee mug
        (779, "school bus"),
        (963, "pizza"),
    ],
)
def test_known_mappings(table, class_id, name):
    assert table["classes"][class_id]["name"] == name


def test_people_are_left_to_the_caption(table):
    # ImageNet's few person classes are roles (groom, ballplayer): guesses about a person.
    assert {table["classes"][i].get("dropped") for i in (981, 982, 983)} == {"person"}


def test_probabilities_of_one_name_are_added_up(namer):
    p = np.zeros(1000, np.float32)
    p[[281, 282, 283, 285]] = 0.15  # four cat classes: no single one passes 0.2
    p[967] = 0.25  # espresso
    p[981] = 0.3  # ballplayer: dropped, so listed under no name
    objects = namer.objects(namer.name_scores(p))
    assert [o.name for o in objects] == ["cat", "coffee"]
    assert objects[0] == DetectedObject("cat", pytest.approx(0.6), None)
    assert objects[0].to_dict() == {"name": "cat", "score": 0.6, "count": None}
    assert namer.objects(namer.name_scores(p), threshold=0.5) == (objects[0],)


def test_at_most_max_objects_highest_first(table):
    namer = ObjectNamer(table, threshold=0.01, max_objects=2)
    p = np.full(1000, 1e-4, np.float32)
    p[[963, 779, 409]] = [0.3, 0.5, 0.1]  # pizza, school bus, clock
    assert [o.name for o in namer.objects(namer.name_scores(p))] == ["school bus", "pizza"]


def test_terms_match_synonyms_plurals_and_phrases(namer):
    terms = namer.terms
    assert terms.find("Two puppies chase a kitten across the sofa") == {"dog", "cat", "couch"}
    assert terms.find("A man rides a motorbike past a fire hydrant") == {
        "person",
        "motorcycle",
        "fire hydrant",
    }
    assert terms.find("A cup of espresso") == {"cup", "coffee"}
    # The longest phrase wins: a hot dog is food, a teddy bear is a toy.
    assert terms.find("a hot dog beside a teddy bear") == {"hot dog", "teddy bear"}
    assert terms.group("mug") == terms.group("cup") == "cup"
    assert terms.group("school bus") == "bus"


def test_terms_stand_alone():
    terms = Terms([["cat", "cat", "kitten"]], names=["ladle"])
    assert terms.find(["ladles", "and", "kittens"]) == {"ladle", "cat"}
    assert terms.find("nothing here") == set()


def test_a_table_not_listed_by_id_is_refused(table):
    from desktop import BundleError

    broken = {**table, "classes": table["classes"][1:]}
    with pytest.raises(BundleError, match="by id"):
        ObjectNamer(broken, 0.2, 5)


def test_the_shipped_bundle_carries_this_table(default_model_dir):
    assert (default_model_dir / "labels.json").read_bytes() == TABLE.read_bytes()


def test_word_bonus_makes_the_caption_name_what_the_classifier_sees(default_model_dir):
    """The decode loop's object-word bonus: a large one puts the classifier's top object in
    the caption; none leaves the caption as the bundle's own setting makes it."""
    from desktop.captioner import Captioner, CaptionOptions

    captioner = Captioner.load(default_model_dir)
    photo = Path(__file__).resolve().parents[1] / "samples" / "chelsea.jpg"
    plain = captioner.caption(photo, CaptionOptions(word_bonus=0.0))
    pushed = captioner.caption(photo, CaptionOptions(word_bonus=20.0))
    assert plain.objects and plain.objects[0].name == "cat"
    assert "cat" in pushed.words or "cats" in pushed.words, pushed.text
    assert pushed.objects == plain.objects  # the objects themselves do not change
    default = captioner.caption(photo)
    bonus = captioner.bundle.word_bonus
    assert default.words == captioner.caption(photo, CaptionOptions(word_bonus=bonus)).words
