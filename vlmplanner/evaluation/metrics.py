"""Answer-scoring metrics of VLM benchmarks, written once, so a score measured here is comparable
with the one lmms-eval prints for the same answers.

Each function scores one sample (or aggregates a list of them) the way the benchmark's own scorer
does, and its docstring says where it knowingly differs. Pure standard library; nothing is computed
at import (regular expressions are given as strings and compiled, then cached, by :mod:`re` on first
use). Every score is in 0-1 unless its docstring says otherwise. Bad input raises
:class:`~vlmplanner.errors.ValidationError` naming the argument at fault.
"""

from __future__ import annotations

import functools
import math
import re
import string
from collections.abc import Iterable, Mapping, Sequence
from typing import TypedDict

from vlmplanner.errors import ValidationError, suggest

__all__ = [
    "MME_COGNITION",
    "MME_PERCEPTION",
    "MMEScores",
    "anls",
    "exact_match",
    "extract_choice",
    "mean_and_stderr",
    "mme_scores",
    "multiple_choice_accuracy",
    "normalize_vqa_answer",
    "ocrbench_correct",
    "pope_scores",
    "relaxed_accuracy",
    "vqa_accuracy",
    "yes_no",
]

# --------------------------------------------------------------------------------------------------
# VQA answer normalisation: the data tables of the official VQA evaluation (also EvalAI's and
# lmms-eval's). Lookups happen on lower-cased words, so the few keys with a capital letter never
# fire; they are kept so the table is the official one.

_CONTRACTIONS: Mapping[str, str] = {
    "aint": "ain't", "arent": "aren't", "cant": "can't", "couldve": "could've",
    "couldnt": "couldn't", "couldn'tve": "couldn't've", "couldnt've": "couldn't've",
    "didnt": "didn't", "doesnt": "doesn't", "dont": "don't", "hadnt": "hadn't",
    "hadnt've": "hadn't've", "hadn'tve": "hadn't've", "hasnt": "hasn't", "havent": "haven't",
    "hed": "he'd", "hed've": "he'd've", "he'dve": "he'd've", "hes": "he's", "howd": "how'd",
    "howll": "how'll", "hows": "how's", "Id've": "I'd've", "I'dve": "I'd've", "Im": "I'm",
    "Ive": "I've", "isnt": "isn't", "itd": "it'd", "itd've": "it'd've", "it'dve": "it'd've",
    "itll": "it'll", "let's": "let's", "maam": "ma'am", "mightnt": "mightn't",
    "mightnt've": "mightn't've", "mightn'tve": "mightn't've", "mightve": "might've",
    "mustnt": "mustn't", "mustve": "must've", "neednt": "needn't", "notve": "not've",
    "oclock": "o'clock", "oughtnt": "oughtn't", "ow's'at": "'ow's'at", "'ows'at": "'ow's'at",
    "'ow'sat": "'ow's'at", "shant": "shan't", "shed've": "she'd've", "she'dve": "she'd've",
    "she's": "she's", "shouldve": "should've", "shouldnt": "shouldn't",
    "shouldnt've": "shouldn't've", "shouldn'tve": "shouldn't've", "somebody'd": "somebodyd",
    "somebodyd've": "somebody'd've", "somebody'dve": "somebody'd've", "somebodyll": "somebody'll",
    "somebodys": "somebody's", "someoned": "someone'd", "someoned've": "someone'd've",
    "someone'dve": "someone'd've", "someonell": "someone'll", "someones": "someone's",
    "somethingd": "something'd", "somethingd've": "something'd've",
    "something'dve": "something'd've", "somethingll": "something'll", "thats": "that's",
    "thered": "there'd", "thered've": "there'd've", "there'dve": "there'd've",
    "therere": "there're", "theres": "there's", "theyd": "they'd", "theyd've": "they'd've",
    "they'dve": "they'd've", "theyll": "they'll", "theyre": "they're", "theyve": "they've",
    "twas": "'twas", "wasnt": "wasn't", "wed've": "we'd've", "we'dve": "we'd've", "weve": "we've",
    "werent": "weren't", "whatll": "what'll", "whatre": "what're", "whats": "what's",
    "whatve": "what've", "whens": "when's", "whered": "where'd", "wheres": "where's",
    "whereve": "where've", "whod": "who'd", "whod've": "who'd've", "who'dve": "who'd've",
    "wholl": "who'll", "whos": "who's", "whove": "who've", "whyll": "why'll", "whyre": "why're",
    "whys": "why's", "wont": "won't", "wouldve": "would've", "wouldnt": "wouldn't",
    "wouldnt've": "wouldn't've", "wouldn'tve": "wouldn't've", "yall": "y'all",
    "yall'll": "y'all'll", "y'allll": "y'all'll", "yall'd've": "y'all'd've",
    "y'alld've": "y'all'd've", "y'all'dve": "y'all'd've", "youd": "you'd", "youd've": "you'd've",
    "you'dve": "you'd've", "youll": "you'll", "youre": "you're", "youve": "you've",
}

# "none" is in the official table too: it is scored as the count 0.
_NUMBER_WORDS: Mapping[str, str] = {
    "none": "0", "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
    "six": "6", "seven": "7", "eight": "8", "nine": "9", "ten": "10",
}
_ARTICLES = ("a", "an", "the")
# The official punctuation list; the period is handled on its own (it may be a decimal point).
_VQA_PUNCTUATION = (";", "/", "[", "]", '"', "{", "}", "(", ")", "=", "+", "\\", "_", "-", ">", "<",
                    "@", "`", ",", "?", "!")
_DIGIT_COMMA_DIGIT = r"\d,\d"
# The official pattern meant "a period not between digits", but its look-behind is mistyped and
# never applies, so in effect a period goes unless a digit follows it ("3.5" stays, "dogs." loses
# it, so does "3."). Kept, because the numbers must match.
_PERIOD_NOT_BEFORE_DIGIT = r"\.(?!\d)"

# extract_choice: the whole answer is one letter ("B", "(b)", "**B.**")
_BARE_LETTER = r"[\s*_`'\"]*[(\[]?\s*([A-Za-z])\s*[)\]]?[\s.,;:!?)\]*_`'\"]*"
# "the answer is B", "Answer: (c)", "final answer - B"
_ANSWER_PHRASE = (r"\banswers?\b(?:\s+(?:is|would\s+be|should\s+be|will\s+be))?\s*[:=\-]?\s*"
                  r"[*_`'\"]*([(\[]?)([A-Za-z])(?![A-Za-z0-9'])")
# "option B", "the correct choice is (C)": trusted only when no answer phrase names a letter
_OPTION_PHRASE = (r"\b(?:option|choice)s?\b(?:\s+(?:is|would\s+be|should\s+be|will\s+be))?\s*"
                  r"[:=\-]?\s*[*_`'\"]*([(\[]?)([A-Za-z])(?![A-Za-z0-9'])")
# what must follow a lower-case letter for it to be a letter and not a word ("answer is a cat")
_LETTER_END = r"\s*(?:[.,;:!?)\]*_`'\"]|$)"
# the answer opens with a marked letter: "(B) red", "B. red", "B) red", "B: red"
_LEADING_LETTER = r"[(\[]([A-Za-z])[)\]]|([A-Z])[.:)](?=\s|$)"
# an upper-case letter standing alone anywhere ("I think B is right")
_LONE_CAPITAL = r"(?<![A-Za-z0-9'])([A-Z])(?![A-Za-z0-9'])"
# after "A" or "I", a lower-case word that makes it the article or the pronoun ("A dog", "I think")
_ARTICLE_USE = r"\s+([a-z]+)"
_LETTER_VERBS = ("is", "was", "or", "and")

# relaxed_accuracy: a plain decimal number (no thousands separators, as ChartQA's scorer)
_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"

# OCRBench's special rule; lmms-eval keys it on the row's dataset, OCRBench's question type names it
_HME_CATEGORIES = ("handwritten mathematical expression recognition", "hme100k")

#: MME's perception subtasks, as the dataset's ``category`` column names them.
MME_PERCEPTION: tuple[str, ...] = ("existence", "count", "position", "color", "posters", "celebrity",
                                   "scene", "landmark", "artwork", "OCR")
#: MME's cognition subtasks.
MME_COGNITION: tuple[str, ...] = ("commonsense_reasoning", "numerical_calculation", "text_translation",
                                  "code_reasoning")


class MMEScores(TypedDict):
    """What :func:`mme_scores` returns: sums of subtask scores, and each subtask's score (0-200)."""

    perception: float
    cognition: float
    total: float
    subtasks: dict[str, float]


# --------------------------------------------------------------------------------------------------
# input checks: every bad argument is a ValidationError naming it


def _require_str(value: object, field: str) -> str:
    if not isinstance(value, str):
        raise ValidationError(f"{field} must be a string, not {type(value).__name__}", field=field,
                              value=value)
    return value


def _require_strings(value: object, field: str) -> list[str]:
    """A non-empty sequence of strings. A bare string is refused: it would be read letter by letter."""
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ValidationError(f"{field} must be a sequence of strings, not {type(value).__name__}",
                              field=field, value=value)
    items = list(value)
    if not items:
        raise ValidationError(f"{field} must not be empty", field=field, value=value)
    for item in items:
        if not isinstance(item, str):
            raise ValidationError(f"every entry of {field} must be a string, not {type(item).__name__}",
                                  field=field, value=value)
    return items


def _require_limit(value: object, field: str, *, upper: float | None) -> float:
    """A finite real number >= 0 (and <= ``upper`` when given); bools are refused."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValidationError(f"{field} must be a number, not {type(value).__name__}", field=field,
                              value=value)
    number = float(value)
    if not math.isfinite(number) or number < 0 or (upper is not None and number > upper):
        bounds = f"between 0 and {upper:g}" if upper is not None else "finite and >= 0"
        raise ValidationError(f"{field} must be {bounds}, not {value!r}", field=field, value=value)
    return number


# --------------------------------------------------------------------------------------------------
# VQA (VQAv2, TextVQA, VizWiz, OK-VQA)


def _strip_vqa_punctuation(text: str) -> str:
    # Decided on the text as it came in, mark by mark, as the official code does: a mark next to a
    # space (every mark, in a text holding a number such as 1,000) is dropped, one inside a word
    # splits it ("left-hand" -> "left hand").
    glued = re.search(_DIGIT_COMMA_DIGIT, text) is not None
    out = text
    for mark in _VQA_PUNCTUATION:
        if glued or f"{mark} " in text or f" {mark}" in text:
            out = out.replace(mark, "")
        else:
            out = out.replace(mark, " ")
    return re.sub(_PERIOD_NOT_BEFORE_DIGIT, "", out)


def normalize_vqa_answer(text: str) -> str:
    """The VQA answer normalisation (EvalAI's answer processor, which lmms-eval's TextVQA, VizWiz and
    OK-VQA apply to predictions and answers alike), so that "Two dogs." and "2 dogs" are the same
    answer.

    In order: lower-case; drop commas and question marks and split off "'s" ("man's" -> "man 's");
    newlines and tabs become spaces; strip; punctuation goes (see ``_strip_vqa_punctuation``; a
    period stays only before a digit, so "3.5" is kept and "1,000" becomes "1000"); the number
    words "none", "zero" ... "ten" become digits; the articles a, an, the are dropped; the official
    contraction table repairs words ("dont" -> "don't"). lmms-eval's VQAv2 task (like the official
    VQA script) skips the first step, so there "red,blue" is "red blue" (here "redblue") and "man's"
    stays whole; answers that differ only so are rare, and the accuracy formula is the same.
    """
    _require_str(text, "text")
    out = text.lower().replace(",", "").replace("?", "").replace("'s", " 's").strip()
    out = out.replace("\n", " ").replace("\t", " ").strip()
    out = _strip_vqa_punctuation(out)
    words = []
    for word in out.lower().split():
        word = _NUMBER_WORDS.get(word, word)
        if word not in _ARTICLES:
            words.append(_CONTRACTIONS.get(word, word))
    return " ".join(words)


def vqa_accuracy(prediction: str, answers: Sequence[str]) -> float:
    """The VQA accuracy of one prediction against its human answers (usually 10), so that an answer
    only some annotators gave earns partial credit.

    Each answer in turn is left out and the prediction scores min(1, matches among the others / 3);
    the score is the mean of those. Prediction and answers are normalised by
    :func:`normalize_vqa_answer`. With one answer there is nothing left to match once it is left out
    (the official formula would give 0 whatever the prediction), so the score is then the exact match
    of the normalised strings: 1.0 or 0.0.
    """
    predicted = normalize_vqa_answer(_require_str(prediction, "prediction"))
    references = [normalize_vqa_answer(answer) for answer in _require_strings(answers, "answers")]
    if len(references) == 1:
        return 1.0 if predicted == references[0] else 0.0
    matches = sum(reference == predicted for reference in references)
    # leaving out a matching answer leaves matches - 1 among the others
    total = math.fsum(min(1.0, (matches - (reference == predicted)) / 3.0) for reference in references)
    return total / len(references)


# --------------------------------------------------------------------------------------------------
# exact match (GQA, open ScienceQA-style answers)


@functools.cache
def _no_punctuation() -> dict[int, int | None]:
    return str.maketrans("", "", string.punctuation)


def _plain(text: str) -> str:
    return " ".join(text.lower().translate(_no_punctuation()).split())


def exact_match(prediction: str, target: str | Sequence[str]) -> float:
    """1.0 when the prediction is the target (or any of the targets), else 0.0.

    Normalisation, as lmms-eval's GQA metric (``exact_match`` with ``ignore_case`` and
    ``ignore_punctuation``): lower-case and remove ASCII punctuation (``string.punctuation``); here
    surrounding whitespace and runs of it also do not count. Articles and number words do count
    ("the cat" is not "cat"); :func:`vqa_accuracy` is the lenient one.
    """
    predicted = _plain(_require_str(prediction, "prediction"))
    targets = [target] if isinstance(target, str) else _require_strings(target, "target")
    return 1.0 if any(_plain(candidate) == predicted for candidate in targets) else 0.0


# --------------------------------------------------------------------------------------------------
# multiple choice (MMBench, MMStar, ScienceQA-IMG, SEED-Bench ...)


def _choice_table(options: object) -> dict[str, str]:
    """Letter -> option text: A, B, C ... in order for a sequence, the (upper-cased) keys for a mapping."""
    table: dict[str, str] = {}
    if isinstance(options, Mapping):
        for key, text in options.items():
            letter = key.strip().upper() if isinstance(key, str) else ""
            if len(letter) != 1 or not ("A" <= letter <= "Z"):
                raise ValidationError(f"the keys of options must be single letters A-Z, not {key!r}",
                                      field="options", value=options)
            if letter in table:
                raise ValidationError(f"options names the letter {letter} twice", field="options",
                                      value=options)
            table[letter] = _require_str(text, "options")
    elif isinstance(options, Sequence) and not isinstance(options, str):
        texts = list(options)
        if len(texts) > 26:
            raise ValidationError(f"at most 26 options can be lettered, not {len(texts)}",
                                  field="options", value=options)
        for index, text in enumerate(texts):
            table[chr(ord("A") + index)] = _require_str(text, "options")
    else:
        raise ValidationError("options must be a sequence of option texts or a mapping letter -> text,"
                              f" not {type(options).__name__}", field="options", value=options)
    if not table:
        raise ValidationError("options must not be empty", field="options", value=options)
    return table


def _option_key(text: str) -> str:
    return " ".join(text.lower().split()).strip(" .,;:!?*_`'\"")


def _option_by_text(text: str, table: Mapping[str, str]) -> str | None:
    """The letter of the one option whose text the answer is (any case, punctuation at the ends aside)."""
    key = _option_key(text)
    found = [letter for letter, option in table.items() if key and _option_key(option) == key]
    return found[0] if len(found) == 1 else None


def _is_article_or_pronoun(letter: str, rest: str) -> bool:
    """ "A dog ...", "I think ...": the word, not the option letter."""
    following = re.match(_ARTICLE_USE, rest) if letter in ("A", "I") else None
    return following is not None and following.group(1) not in _LETTER_VERBS


def _phrase_letters(pattern: str, text: str) -> set[str]:
    letters = set()
    for match in re.finditer(pattern, text, re.IGNORECASE):
        bracket, letter, rest = match.group(1), match.group(2), text[match.end():]
        # a letter counts only when marked as one: bracketed, ending the phrase, or a capital that
        # is not the article or the pronoun
        if bracket or re.match(_LETTER_END, rest) or (
                letter.isupper() and not _is_article_or_pronoun(letter, rest)):
            letters.add(letter.upper())
    return letters


def _lone_capitals(text: str) -> set[str]:
    return {match.group(1) for match in re.finditer(_LONE_CAPITAL, text)
            if not _is_article_or_pronoun(match.group(1), text[match.end():])}


def extract_choice(prediction: str, options: Sequence[str] | Mapping[str, str]) -> str | None:
    """The option letter a free-form answer picks, or None when it names no option or several, so a
    multiple-choice score never credits a guess the model did not make.

    ``options`` is the option texts (lettered A, B, C ... in order) or a mapping letter -> text.
    Tried in order, the first that applies decides:

    1. the whole answer is a letter: "B", "(B)", "b.", "**B**";
    2. an answer phrase names letters: "The answer is B", "Answer: c" (a lower-case letter only when
       nothing but punctuation follows it, so "the answer is a cat" names none, nor does "Answer: A
       cat"); two different letters named this way ("the answer is A ... the answer is B") are
       ambiguous;
    3. the answer opens with a marked letter: "B. red", "(B) red", "B) red";
    4. the answer is exactly one option's text (case, spacing and end punctuation aside);
    5. "option B" / "choice B" phrases, then upper-case letters standing alone anywhere ("I think B
       is right"; "A"/"I" followed by a lower-case word are read as the article or the pronoun).

    At each step a letter that is not among the options, or more than one letter, gives None.
    lmms-eval's ``extract_mcq_answer`` instead ranks every candidate and always returns one of them
    (the last of the highest-ranked format, even an "A" article, and only capital letters: for
    "Answer: c" it finds the "A" of "Answer"); on one capital letter in the formats of steps 1-3 the
    two agree.
    """
    _require_str(prediction, "prediction")
    table = _choice_table(options)
    text = " ".join(prediction.split())
    if not text:
        return None

    def pick(letters: set[str]) -> str | None:
        if len(letters) != 1:
            return None
        (letter,) = letters
        return letter if letter in table else None

    bare = re.fullmatch(_BARE_LETTER, text)
    if bare:
        return pick({bare.group(1).upper()})
    named = _phrase_letters(_ANSWER_PHRASE, text)
    if named:
        return pick(named)
    leading = re.match(_LEADING_LETTER, text.lstrip("*_`'\" "))
    if leading:
        letter = (leading.group(1) or leading.group(2)).upper()
        if letter in table:
            return letter
    by_text = _option_by_text(text, table)
    if by_text is not None:
        return by_text
    named = _phrase_letters(_OPTION_PHRASE, text)
    if named:
        return pick(named)
    lone = _lone_capitals(text)
    return pick(lone) if lone else None


def multiple_choice_accuracy(prediction: str, answer: str,
                             options: Sequence[str] | Mapping[str, str]) -> float:
    """1.0 when the letter :func:`extract_choice` reads from the prediction is the right one.

    ``answer`` is the right option's letter ("B", "(b)") or, failing that, its exact text; one that is
    neither is a ValidationError (field ``answer``), since it is the data, not the model, at fault.
    """
    table = _choice_table(options)
    _require_str(answer, "answer")
    bare = re.fullmatch(_BARE_LETTER, answer)
    gold = bare.group(1).upper() if bare and bare.group(1).upper() in table else None
    if gold is None:
        gold = _option_by_text(answer, table)
    if gold is None:
        raise ValidationError(f"answer {answer!r} is neither the letter nor the text of one option",
                              field="answer", value=answer)
    return 1.0 if extract_choice(prediction, options) == gold else 0.0


# --------------------------------------------------------------------------------------------------
# ANLS (DocVQA, InfographicVQA)


def _levenshtein(first: str, second: str) -> int:
    """Edit distance (insertions, deletions, substitutions each cost 1), two rows of the table."""
    if len(first) < len(second):
        first, second = second, first
    previous = list(range(len(second) + 1))
    for row, char in enumerate(first, start=1):
        current = [row]
        for column, other in enumerate(second, start=1):
            current.append(min(previous[column] + 1, current[column - 1] + 1,
                               previous[column - 1] + (char != other)))
        previous = current
    return previous[-1]


def _anls_text(text: str) -> str:
    return " ".join(text.strip().lower().split())


def anls(prediction: str, answers: Sequence[str], threshold: float = 0.5) -> float:
    """Average Normalized Levenshtein Similarity of one sample (DocVQA): reading errors of an OCR-ish
    answer cost in proportion, and an answer too far off scores nothing.

    For each answer, NL = edit distance / the longer string's length (both lower-cased, stripped,
    inner whitespace collapsed); the score is the best 1 - NL, set to 0 when it is below
    ``threshold``. As in DocVQA's own scorer and lmms-eval, the threshold applies to the similarity,
    so NL = 0.5 exactly keeps 0.5 (the paper's "NL < 0.5" would drop it). lmms-eval takes the
    lengths of the raw strings; here those of the normalised ones, as DocVQA's scorer.
    """
    predicted = _anls_text(_require_str(prediction, "prediction"))
    references = _require_strings(answers, "answers")
    limit = _require_limit(threshold, "threshold", upper=1.0)
    best = 0.0
    for reference in references:
        gold = _anls_text(reference)
        length = max(len(gold), len(predicted))
        distance = _levenshtein(gold, predicted) / length if length else 0.0
        best = max(best, 1.0 - distance)
    return best if best >= limit else 0.0


# --------------------------------------------------------------------------------------------------
# relaxed accuracy (ChartQA)


def _chart_number(text: str) -> float | None:
    """The number an answer is ("12", "12%", "3.5."), or None."""
    candidate = text.strip().rstrip(".,;:!?").rstrip()
    if candidate.endswith("%"):
        candidate = candidate[:-1].rstrip()
    if re.fullmatch(_NUMBER, candidate) is None:
        return None
    number = float(candidate)
    return number if math.isfinite(number) else None


def relaxed_accuracy(prediction: str, target: str, tolerance: float = 0.05) -> float:
    """ChartQA's relaxed correctness: a number read off a chart may be a little off.

    When both are numbers (a trailing "%" and trailing punctuation ignored: "12%" is 12), the
    prediction is right within ``tolerance`` relative error of the target (a target of 0 must be
    met exactly); otherwise the strings must be equal, case and surrounding whitespace aside.
    lmms-eval reads "12%" as 0.12 (so "12%" against a gold "12" is wrong there and right here), does
    not drop trailing punctuation, and compares a gold 0 as a string.
    """
    _require_str(prediction, "prediction")
    _require_str(target, "target")
    limit = _require_limit(tolerance, "tolerance", upper=None)
    predicted, gold = _chart_number(prediction), _chart_number(target)
    if predicted is not None and gold is not None:
        if gold == 0:
            return 1.0 if predicted == 0 else 0.0
        return 1.0 if abs(predicted - gold) / abs(gold) <= limit else 0.0
    return 1.0 if prediction.strip().lower() == target.strip().lower() else 0.0


# --------------------------------------------------------------------------------------------------
# yes/no benchmarks (POPE, MME)


def yes_no(text: str) -> str | None:
    """"yes" or "no" as MME's parser reads it from the start of an answer, or None for neither.

    Lower-cased, stripped, periods removed: "yes"/"no" as such, "y"/"n" alone, else "yes" (tested
    first) or "no" within the first four characters: "Yes, there is." is yes, "No" and "Not sure"
    are no, "There is no dog" is None.
    """
    answer = _require_str(text, "text").lower().strip().replace(".", "")
    if answer in ("yes", "no"):
        return answer
    if len(answer) == 1:
        return {"y": "yes", "n": "no"}.get(answer)
    if "yes" in answer[:4]:
        return "yes"
    if "no" in answer[:4]:
        return "no"
    return None


def pope_scores(predictions: Sequence[str], labels: Sequence[str]) -> dict[str, float]:
    """POPE's scores with "yes" (the object is there) as the positive class: accuracy, precision,
    recall, f1, and yes_ratio (the share of predictions that say yes, which shows a yes-bias).

    Each prediction is read with :func:`yes_no`; one that is neither counts as "no" (so it is
    right when the label is no). Labels must be "yes" or "no" (any case). A ratio whose
    denominator is 0 is 0.0. lmms-eval compares the whole lower-cased answer with the label, so an
    answer other than exactly yes/no is wrong there and left out of precision and recall's counts,
    and its yes_ratio is the share of yes *labels*; both are fixed here.
    """
    answers = _require_strings(predictions, "predictions")
    golds = _require_strings(labels, "labels")
    if len(answers) != len(golds):
        raise ValidationError(f"{len(answers)} predictions but {len(golds)} labels", field="labels",
                              value=labels)
    true_pos = false_pos = false_neg = correct = said_yes = 0
    for answer, label in zip(answers, golds):
        gold = label.strip().lower()
        if gold not in ("yes", "no"):
            raise ValidationError(f"a POPE label is yes or no, not {label!r}", field="labels",
                                  value=label)
        said = yes_no(answer) or "no"
        said_yes += said == "yes"
        correct += said == gold
        true_pos += said == "yes" and gold == "yes"
        false_pos += said == "yes" and gold == "no"
        false_neg += said == "no" and gold == "yes"
    precision = true_pos / (true_pos + false_pos) if true_pos + false_pos else 0.0
    recall = true_pos / (true_pos + false_neg) if true_pos + false_neg else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"accuracy": correct / len(answers), "precision": precision, "recall": recall, "f1": f1,
            "yes_ratio": said_yes / len(answers)}


def mme_scores(records: Iterable[tuple[str, str, str, str]]) -> MMEScores:
    """MME's scores from (subtask, image_id, prediction, answer) records; not 0-1 but MME's own scale.

    Per subtask: acc (% of its questions answered right) + acc+ (% of its images with both questions
    right), 0-200. ``perception`` sums the 10 perception subtasks present (out of 2000),
    ``cognition`` the 4 cognition ones (out of 800), ``total`` both; ``subtasks`` maps each subtask
    present to its score. Predictions are read with :func:`yes_no` (neither is wrong); answers must
    be yes/no. Subtask names are MME's (any case); an unknown one is a ValidationError, and so is an
    image without exactly two questions, which lmms-eval asserts too.
    """
    if isinstance(records, (str, bytes)) or not isinstance(records, Iterable):
        raise ValidationError(f"records must be an iterable of 4-tuples, not {type(records).__name__}",
                              field="records", value=records)
    canonical = {name.lower(): name for name in MME_PERCEPTION + MME_COGNITION}
    marks: dict[str, dict[str, list[bool]]] = {}
    for record in records:
        if (not isinstance(record, (tuple, list)) or len(record) != 4
                or not all(isinstance(part, str) for part in record)):
            raise ValidationError("each record must be (subtask, image_id, prediction, answer), four"
                                  f" strings, not {record!r}", field="records", value=record)
        subtask, image, prediction, answer = record
        name = canonical.get(subtask.strip().lower())
        if name is None:
            close = suggest(subtask, canonical.values())
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise ValidationError(f"unknown MME subtask {subtask!r}{hint}", field="records",
                                  value=subtask)
        gold = answer.strip().lower().replace(".", "")
        if gold not in ("yes", "no"):
            raise ValidationError(f"an MME answer is yes or no, not {answer!r}", field="records",
                                  value=record)
        marks.setdefault(name, {}).setdefault(image, []).append(yes_no(prediction) == gold)
    if not marks:
        raise ValidationError("records must not be empty", field="records", value=records)
    subtasks: dict[str, float] = {}
    for name in MME_PERCEPTION + MME_COGNITION:
        images = marks.get(name)
        if images is None:
            continue
        for image, right in images.items():
            if len(right) != 2:
                raise ValidationError(f"MME scores pairs: image {image!r} of {name} has {len(right)}"
                                      " question(s), not 2", field="records", value=(name, image))
        questions = [mark for right in images.values() for mark in right]
        acc = 100.0 * sum(questions) / len(questions)
        acc_plus = 100.0 * sum(all(right) for right in images.values()) / len(images)
        subtasks[name] = acc + acc_plus
    perception = math.fsum(subtasks.get(name, 0.0) for name in MME_PERCEPTION)
    cognition = math.fsum(subtasks.get(name, 0.0) for name in MME_COGNITION)
    return {"perception": perception, "cognition": cognition, "total": perception + cognition,
            "subtasks": subtasks}


# --------------------------------------------------------------------------------------------------
# OCRBench


@functools.cache
def _fullwidth_to_ascii() -> dict[int, int]:
    # U+FF01..U+FF5E are the fullwidth forms of "!".."~"; U+3000 is the ideographic space
    table = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)}
    table[0x3000] = ord(" ")
    return table


def ocrbench_correct(prediction: str, answers: Sequence[str], category: str) -> float:
    """1.0 when one of the answers appears in the prediction, as OCRBench scores (models may wrap
    the text they read in a sentence).

    ``category`` is the row's question type or dataset: for "Handwritten Mathematical Expression
    Recognition" (dataset HME100k; any case) spaces and newlines are removed from both and case
    counts, since LaTeX is case-sensitive; otherwise both are lower-cased and stripped, newlines
    become spaces and fullwidth ASCII is folded to ASCII (as lmms-eval now does). A blank answer is
    a ValidationError: it would be found in every prediction.
    """
    predicted = _require_str(prediction, "prediction")
    references = _require_strings(answers, "answers")
    kind = _require_str(category, "category")
    if any(not reference.strip() for reference in references):
        raise ValidationError("an OCRBench answer must not be blank", field="answers", value=answers)
    if kind.strip().lower() in _HME_CATEGORIES:

        def squeeze(text: str) -> str:
            return text.strip().replace("\n", " ").replace(" ", "")

        found = squeeze(predicted)
        return 1.0 if any(squeeze(reference) in found for reference in references) else 0.0

    def fold(text: str) -> str:
        return text.translate(_fullwidth_to_ascii()).lower().strip().replace("\n", " ")

    found = fold(predicted)
    return 1.0 if any(fold(reference) in found for reference in references) else 0.0


# --------------------------------------------------------------------------------------------------
# aggregation


def mean_and_stderr(values: Sequence[float]) -> tuple[float, float]:
    """The mean of per-sample scores and its standard error (sample standard deviation, n - 1, over
    sqrt(n); 0.0 for one value), as lmms-eval reports next to a score, to tell a real difference
    from noise.
    """
    if isinstance(values, str) or not isinstance(values, Sequence):
        raise ValidationError(f"values must be a sequence of numbers, not {type(values).__name__}",
                              field="values", value=values)
    numbers = []
    for value in values:
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValidationError(f"every value must be a finite number, not {value!r}", field="values",
                                  value=values)
        numbers.append(float(value))
    if not numbers:
        raise ValidationError("values must not be empty", field="values", value=values)
    mean = math.fsum(numbers) / len(numbers)
    if len(numbers) == 1:
        return mean, 0.0
    variance = math.fsum((number - mean) ** 2 for number in numbers) / (len(numbers) - 1)
    return mean, math.sqrt(variance / len(numbers))
