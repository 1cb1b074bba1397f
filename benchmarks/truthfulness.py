"""Does a caption say only what is there? Measures from the captions and the references alone.

Pure functions (no model, no files) behind benchmarks/everyday_eval.py, defined as in
``shared/notes/truthfulness-floors.md`` so that the project's figures can be set beside the
measured floors of the shipped model:

- **phantom people**: of the photos where *no* reference names a person, the share whose
  caption names one (a blind user cannot check an invented stranger in their photo);
- **gender errors**: of the captions that use a gendered word, the share that contradicts
  the references, judged only where at least 3 references use one gender and none the other
  (fewer is too little agreement to call the caption wrong);
- **neutral people**: of the captions that name a person, the share with no gendered word
  ("a person", "a child": never wrong about gender);
- **hallucinated** (CHAIR-i) and **salient named** of the caption's COCO things;
- **object list salient named / wrong**: the same two questions asked of the photo's object
  list (``CaptionResult.objects``), people included in "wrong";
- **confidence**: expected calibration error of ``CaptionResult.confidence`` against "the
  caption names a thing at least 3 references name" (the label it was fitted on, from
  benchmarks/objects_eval.py), and how often ``unsure`` is raised for wrong and right captions.

"Names" is always judged through the label table's groups (``desktop.objects.Terms``), so
"a puppy" names a dog and "a lady" a person.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from converter.judging import ECE_BINS, caption_right, ece, reference_groups
from converter.judging import salient as _salient
from desktop.objects import Terms, words

PERSON = "person"  # the label table's first group: every word for a person is in it

# The gendered words of the notes' definition. Pronouns count: "a man holds her umbrella"
# says there is a woman as surely as "a woman" does.
MALE = frozenset({"man", "men", "boy", "boys", "guy", "guys", "he", "his", "him", "gentleman"})
FEMALE = frozenset({"woman", "women", "girl", "girls", "lady", "ladies", "she", "her"})
GENDER_AGREEMENT = 3  # references that must use one gender (and none the other) to judge


# -- helpers ----------------------------------------------------------------------------------


def _share(part: int, whole: int) -> float:
    # 0 rather than a division error for an empty set: these figures are "lower is better"
    # or "higher is better" shares, and an empty subset reports its count beside them.
    return part / whole if whole else 0.0


def genders(text: str) -> set[str]:
    """{"male", "female"}, the genders a sentence's words give someone (possibly both)."""
    found = set()
    for token in words(text):
        # The tokenizer keeps "man's" whole; the possessive still says "man".
        token = token.removesuffix("'s")
        if token in MALE:
            found.add("male")
        elif token in FEMALE:
            found.add("female")
    return found


def reference_gender(references: Iterable[str]) -> str | None:
    """The gender the references agree on: "male"/"female" where at least
    ``GENDER_AGREEMENT`` of them use it and none uses the other; None otherwise (no people,
    mixed company, or too few saying it to call a caption wrong)."""
    male = female = 0
    for ref in references:
        said = genders(ref)
        male += "male" in said
        female += "female" in said
    if male >= GENDER_AGREEMENT and not female:
        return "male"
    if female >= GENDER_AGREEMENT and not male:
        return "female"
    return None


def names_person(text: str, terms: Terms) -> bool:
    return PERSON in terms.find(text)


# -- people -----------------------------------------------------------------------------------


def phantom_people(
    captions: Mapping[str, str], references: Mapping[str, Sequence[str]], terms: Terms
) -> dict:
    """Of the photos no reference names a person in, how many captions name one anyway."""
    free = phantom = 0
    for key, caption in captions.items():
        if any(names_person(ref, terms) for ref in references[key]):
            continue
        free += 1
        phantom += names_person(caption, terms)
    return {
        "phantom_people": _share(phantom, free),
        "phantom_people_photos": phantom,
        "person_free_photos": free,
    }


def gender_errors(captions: Mapping[str, str], references: Mapping[str, Sequence[str]]) -> dict:
    """Of the captions with a gendered word, the share that gives a gender the references
    (agreeing on the other one) never use. A caption the references leave undecided counts
    in the denominator and never as an error: the notes' figures are shares of all gendered
    captions, and an undecided photo is one where the caption cannot be shown wrong."""
    worded = wrong = judged = 0
    for key, caption in captions.items():
        said = genders(caption)
        if not said:
            continue
        worded += 1
        truth = reference_gender(references[key])
        if truth is None:
            continue
        judged += 1
        # "a man and a woman" over references that all say "man" invents a woman: wrong.
        wrong += bool(said - {truth})
    return {
        "gender_errors": _share(wrong, worded),
        "gender_worded": worded,
        "gender_wrong": wrong,
        "gender_judged": judged,  # of gender_worded, where the references agree on a gender
    }


def neutral_people(captions: Mapping[str, str], terms: Terms) -> dict:
    """Of the captions that name a person, the share that does so without a gender."""
    people = neutral = 0
    for caption in captions.values():
        if names_person(caption, terms):
            people += 1
            neutral += not genders(caption)
    return {"neutral_people": _share(neutral, people), "people_named": people}


# -- things the caption names -----------------------------------------------------------------


def object_figures(
    captions: Mapping[str, str],
    references: Mapping[str, Sequence[str]],
    terms: Terms,
    coco: set[str],
) -> dict:
    """The caption's COCO things against the references: salient named and CHAIR-i.

    ``terms`` finds COCO's categories (person included) and ``coco`` is their group names;
    a thing is salient when at least ``SALIENT`` references name it, and person is left out
    of "salient" (nearly every caption names one: it would say little about the photo)."""
    named_salient = mentioned = absent = with_salient = 0
    for key, caption in captions.items():
        counts: dict[str, int] = {}
        for ref in references[key]:
            for group in terms.find(ref) & coco:
                counts[group] = counts.get(group, 0) + 1
        salient = _salient(counts) - {PERSON}
        said = terms.find(caption) & coco
        named_salient += bool(said & salient)
        with_salient += bool(salient)
        mentioned += len(said)
        absent += len(said - set(counts))
    return {
        "salient_named": _share(named_salient, len(captions)),
        # The same among the photos that have a salient non-person thing at all.
        "salient_named_where_one": _share(named_salient, with_salient),
        "objects_named": mentioned,
        "hallucinated": _share(absent, mentioned),
    }


# -- the object list --------------------------------------------------------------------------


def object_list_figures(
    objects: Mapping[str, Sequence[str]],
    references: Mapping[str, Sequence[str]],
    terms: Terms,
    coco: set[str],
) -> dict:
    """The photo's object list (names, as ``CaptionResult.objects``) against the references.

    ``terms`` is the whole label table's (the list names "coffee" and "mountain" too, which
    a reference can name), ``coco`` the COCO categories' group names. Salient: non-person
    COCO things at least ``SALIENT`` references name. Wrong: a listed thing whose group no
    reference names, person included (a listed "person" is wrong on an empty street)."""
    with_salient = named = listed = wrong = 0
    for key, names in objects.items():
        counts = reference_groups(terms, references[key])
        # Once per group: "sailboat" and "boat" are one boat to a reference.
        groups = list(dict.fromkeys(terms.group(n) for n in names))
        salient = _salient(counts, coco) - {PERSON}
        if salient:
            with_salient += 1
            named += bool(salient & set(groups))
        listed += len(groups)
        wrong += sum(g not in counts for g in groups)
    return {
        "objects_salient_named": _share(named, with_salient),
        "objects_salient_photos": with_salient,
        # None, not 0, when nothing is listed: a bundle without objects is not "never wrong".
        "objects_wrong": _share(wrong, listed) if listed else None,
        "objects_listed": listed,
    }


# -- confidence -------------------------------------------------------------------------------


def confidence_figures(
    captions: Mapping[str, str],
    confidence: Mapping[str, float | None],
    unsure: Mapping[str, bool],
    references: Mapping[str, Sequence[str]],
    terms: Terms,
) -> dict:
    """ECE (10 equal-width bins) of the confidence against ``caption_right``, and the share
    flagged unsure among wrong and among right captions. Only photos with a confidence count
    (a bundle without calibration gives None, and every figure is then None)."""
    given = {k: c for k in captions if (c := confidence.get(k)) is not None}
    keys = list(given)
    if not keys:
        return {"ece": None, "unsure_when_wrong": None, "unsure_when_right": None}
    p = np.array([float(given[k]) for k in keys])
    y = np.array([caption_right(captions[k], references[k], terms) for k in keys], dtype=float)
    flagged = np.array([bool(unsure.get(k, False)) for k in keys])
    error, _ = ece(p, y, bins=ECE_BINS)
    wrong, right = y == 0, y == 1
    return {
        "ece": error,
        # Where unsure matters: the captions that miss the photo's subject should be flagged,
        # the ones that name it should not.
        "unsure_when_wrong": float(flagged[wrong].mean()) if wrong.any() else None,
        "unsure_when_right": float(flagged[right].mean()) if right.any() else None,
        "confidence_photos": len(keys),
        "caption_right": float(y.mean()),
    }


# -- all of it --------------------------------------------------------------------------------


def truthfulness(
    captions: Mapping[str, str],
    references: Mapping[str, Sequence[str]],
    coco_terms: Terms,
    coco: set[str],
    table_terms: Terms,
    objects: Mapping[str, Sequence[str]] | None = None,
    confidence: Mapping[str, float | None] | None = None,
    unsure: Mapping[str, bool] | None = None,
) -> dict:
    """Every figure above for one dev set (or subset), as one flat dict.

    ``coco_terms`` knows COCO's 80 categories only (the caption measures of the notes);
    ``table_terms`` the whole label table (object list and the confidence label, as
    benchmarks/objects_eval.py judges them)."""
    row = {
        **phantom_people(captions, references, coco_terms),
        **gender_errors(captions, references),
        **neutral_people(captions, coco_terms),
        **object_figures(captions, references, coco_terms, coco),
    }
    if objects is not None:
        row.update(object_list_figures(objects, references, table_terms, coco))
    else:
        row.update({"objects_salient_named": None, "objects_wrong": None})
    row.update(
        confidence_figures(captions, confidence or {}, unsure or {}, references, table_terms)
    )
    return row
