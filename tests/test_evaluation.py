"""Metrics (checked against scikit-learn), teacher-label alignment and transfer-set construction."""

import numpy as np
import pytest

from textdistill.data.readers import LabelMap, TextDataset
from textdistill.errors import DataError, ModelError
from textdistill.metrics import classification_metrics, confusion, f1_of_class, macro_f1, matthews
from textdistill.data.transfer import transfer_texts
from textdistill.teachers.alignment import align_teacher

sk = pytest.importorskip("sklearn.metrics")


# ---------------------------------------------------------------------------------------------------------------
# Metrics against sklearn


def _random_case(rng, k, n, drop_from_pred=None, drop_from_both=None):
    gold = rng.integers(0, k, size=n)
    pred = rng.integers(0, k, size=n)
    # Make the predictions partly right so MCC / F1 are not all near zero.
    right = rng.random(n) < 0.5
    pred[right] = gold[right]
    if drop_from_pred is not None:
        pred[pred == drop_from_pred] = (drop_from_pred + 1) % k
    if drop_from_both is not None:
        gold[gold == drop_from_both] = (drop_from_both + 1) % k
        pred[pred == drop_from_both] = (drop_from_both + 1) % k
    return gold, pred


@pytest.mark.parametrize("k", [2, 3, 5, 10])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_metrics_match_sklearn_on_random_labels(k, seed):
    rng = np.random.default_rng(1000 * k + seed)
    gold, pred = _random_case(rng, k, n=int(rng.integers(20, 300)))
    m = classification_metrics(gold, pred, k)
    assert m["n"] == len(gold)
    assert m["accuracy"] == pytest.approx(sk.accuracy_score(gold, pred), abs=1e-12)
    assert m["macro_f1"] == pytest.approx(sk.f1_score(gold, pred, average="macro", zero_division=0), abs=1e-12)
    assert m["mcc"] == pytest.approx(sk.matthews_corrcoef(gold, pred), abs=1e-12)
    assert ("f1" in m) == (k == 2)
    assert "teacher_agreement" not in m


@pytest.mark.parametrize("k", [2, 3, 4, 7])
def test_class_absent_from_predictions_counts_as_zero_f1(k):
    rng = np.random.default_rng(k)
    gold, pred = _random_case(rng, k, n=200, drop_from_pred=k - 1)
    assert (gold == k - 1).any() and not (pred == k - 1).any()
    m = classification_metrics(gold, pred, k)
    expected = sk.f1_score(gold, pred, average="macro", zero_division=0)
    assert m["macro_f1"] == pytest.approx(expected, abs=1e-12)
    # The missing class pulls the mean down: it is averaged in as 0, not left out.
    per_class = sk.f1_score(gold, pred, average=None, labels=list(range(k)), zero_division=0)
    assert per_class[k - 1] == 0
    assert m["macro_f1"] == pytest.approx(per_class.mean(), abs=1e-12)
    assert m["mcc"] == pytest.approx(sk.matthews_corrcoef(gold, pred), abs=1e-12)


def test_class_absent_from_gold_and_predictions_is_not_averaged():
    rng = np.random.default_rng(7)
    gold, pred = _random_case(rng, 4, n=150, drop_from_both=2)
    assert not (gold == 2).any() and not (pred == 2).any()
    m = classification_metrics(gold, pred, 4)
    # sklearn (labels=None) averages over the classes that occur in gold or predictions, i.e. 3 of 4.
    assert m["macro_f1"] == pytest.approx(sk.f1_score(gold, pred, average="macro", zero_division=0), abs=1e-12)
    per_class = sk.f1_score(gold, pred, average=None, labels=[0, 1, 3], zero_division=0)
    assert m["macro_f1"] == pytest.approx(per_class.mean(), abs=1e-12)
    assert m["mcc"] == pytest.approx(sk.matthews_corrcoef(gold, pred), abs=1e-12)


def test_class_only_in_predictions_is_averaged_as_zero():
    gold = np.array([0, 0, 1, 1, 0, 1])
    pred = np.array([0, 2, 1, 1, 0, 0])
    m = classification_metrics(gold, pred, 3)
    assert m["macro_f1"] == pytest.approx(sk.f1_score(gold, pred, average="macro", zero_division=0), abs=1e-12)
    assert m["mcc"] == pytest.approx(sk.matthews_corrcoef(gold, pred), abs=1e-12)


def test_known_values_by_hand():
    gold = [0, 0, 0, 1, 1, 1]
    pred = [0, 0, 1, 1, 1, 1]
    m = classification_metrics(gold, pred, 2)
    assert m["accuracy"] == pytest.approx(5 / 6)
    # class 0: P=1, R=2/3, F1=0.8; class 1: P=3/4, R=1, F1=6/7
    assert m["macro_f1"] == pytest.approx((0.8 + 6 / 7) / 2)
    assert m["f1"] == pytest.approx(6 / 7)
    # MCC = (TP*TN - FP*FN) / sqrt(...) = (3*2 - 1*0) / sqrt(4*3*3*2)
    assert m["mcc"] == pytest.approx(6 / np.sqrt(72))


@pytest.mark.parametrize("seed", range(4))
def test_binary_f1_is_f1_of_class_1(seed):
    rng = np.random.default_rng(seed)
    gold, pred = _random_case(rng, 2, n=120)
    m = classification_metrics(gold, pred, 2)
    assert m["f1"] == pytest.approx(sk.f1_score(gold, pred, pos_label=1, average="binary"), abs=1e-12)
    assert f1_of_class(confusion(gold, pred, 2), 0) == pytest.approx(
        sk.f1_score(gold, pred, pos_label=0, average="binary"), abs=1e-12)


def test_binary_f1_is_not_f1_of_class_0():
    gold = [1, 1, 1, 1, 0, 0, 0, 0, 0, 0]
    pred = [1, 1, 1, 0, 0, 0, 0, 0, 0, 1]
    m = classification_metrics(gold, pred, 2)
    assert m["f1"] == pytest.approx(0.75)  # TP=3, FP=1, FN=1
    assert sk.f1_score(gold, pred, pos_label=0) == pytest.approx(10 / 12)


@pytest.mark.filterwarnings("ignore:A single label was found")
def test_binary_f1_when_class_1_never_occurs_is_zero():
    gold = np.zeros(10, dtype=int)
    pred = np.zeros(10, dtype=int)
    m = classification_metrics(gold, pred, 2)
    assert m["accuracy"] == 1.0
    assert m["f1"] == 0.0
    assert m["mcc"] == 0.0  # sklearn's convention for a degenerate confusion matrix
    assert sk.matthews_corrcoef(gold, pred) == 0.0


def test_constant_predictions_give_zero_mcc():
    rng = np.random.default_rng(3)
    gold = rng.integers(0, 3, size=60)
    pred = np.ones(60, dtype=int)
    m = classification_metrics(gold, pred, 3)
    assert m["mcc"] == 0.0 == sk.matthews_corrcoef(gold, pred)
    assert m["macro_f1"] == pytest.approx(sk.f1_score(gold, pred, average="macro", zero_division=0), abs=1e-12)


def test_perfect_and_inverted_binary_predictions():
    gold = np.array([0, 1, 1, 0, 1, 0, 0])
    assert classification_metrics(gold, gold, 2)["mcc"] == pytest.approx(1.0)
    assert classification_metrics(gold, 1 - gold, 2)["mcc"] == pytest.approx(-1.0)
    assert classification_metrics(gold, 1 - gold, 2)["accuracy"] == 0.0


def test_confusion_matrix_layout_rows_gold_columns_pred():
    cm = confusion(np.array([0, 0, 1, 2, 2, 2]), np.array([0, 1, 1, 2, 0, 2]), 3)
    assert cm.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]
    assert cm.tolist() == sk.confusion_matrix([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2], labels=[0, 1, 2]).tolist()
    assert macro_f1(cm) == pytest.approx(sk.f1_score([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2], average="macro"))
    assert matthews(cm) == pytest.approx(sk.matthews_corrcoef([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2]))


def test_teacher_agreement_is_fraction_of_equal_predictions():
    rng = np.random.default_rng(11)
    gold = rng.integers(0, 4, size=97)
    pred = rng.integers(0, 4, size=97)
    teacher = pred.copy()
    flip = rng.choice(97, size=23, replace=False)
    teacher[flip] = (teacher[flip] + 1) % 4
    m = classification_metrics(gold, pred, 4, teacher_pred=teacher)
    assert m["teacher_agreement"] == pytest.approx(74 / 97)
    # Agreement is between student and teacher, independent of gold.
    m2 = classification_metrics(rng.integers(0, 4, size=97), pred, 4, teacher_pred=teacher)
    assert m2["teacher_agreement"] == pytest.approx(74 / 97)
    assert classification_metrics(gold, pred, 4, teacher_pred=list(pred))["teacher_agreement"] == 1.0


def test_metrics_accept_lists_and_empty_input():
    m = classification_metrics([1, 0, 1], [1, 1, 1], 2, teacher_pred=[0, 1, 1])
    assert m["accuracy"] == pytest.approx(2 / 3)
    assert m["teacher_agreement"] == pytest.approx(2 / 3)
    empty = classification_metrics(np.array([], dtype=int), np.array([], dtype=int), 3, teacher_pred=[])
    assert empty["n"] == 0
    assert empty["accuracy"] == 0.0 and empty["macro_f1"] == 0.0 and empty["mcc"] == 0.0
    assert empty["teacher_agreement"] == 0.0


# ---------------------------------------------------------------------------------------------------------------
# align_teacher


def test_align_named_teacher_labels_by_name():
    labels = LabelMap.from_labels(["pos", "neg", "neutral", "pos"])
    assert labels.names == ["neg", "neutral", "pos"]
    teacher_names = ["pos", "neg", "neutral"]
    order = align_teacher(teacher_names, 3, labels)
    assert order.tolist() == [1, 2, 0]
    # Column j of the aligned logits is the teacher's score for labels.names[j].
    teacher_logits = np.array([[10.0, 20.0, 30.0]])  # pos=10, neg=20, neutral=30
    aligned = teacher_logits[:, order]
    assert aligned.tolist() == [[20.0, 30.0, 10.0]]
    assert [teacher_names[i] for i in order] == labels.names


@pytest.mark.parametrize("seed", range(3))
def test_align_named_labels_random_permutation(seed):
    rng = np.random.default_rng(seed)
    names = [f"topic_{c}" for c in "abcdef"]
    teacher_names = list(rng.permutation(names))
    labels = LabelMap.from_labels(names)
    order = align_teacher(teacher_names, len(names), labels)
    assert [teacher_names[i] for i in order] == labels.names
    assert sorted(order.tolist()) == list(range(len(names)))


def test_align_named_digit_labels_prefers_names_over_values():
    # A teacher whose id2label says column 0 is "1" and column 1 is "0".
    labels = LabelMap.from_labels(["0", "1"])
    assert align_teacher(["1", "0"], 2, labels).tolist() == [1, 0]


def test_align_integer_labels_by_value():
    # The teacher's own names (class_0...) say nothing about the data's labels: integer labels pick columns by value.
    labels = LabelMap.from_labels(["2", "0", "1", "0"])
    assert labels.names == ["0", "1", "2"]
    assert align_teacher(["class_0", "class_1", "class_2"], 3, labels).tolist() == [0, 1, 2]
    assert align_teacher(None, 3, labels).tolist() == [0, 1, 2]
    # A label map whose names are not in numeric order still maps each name to the column of its value.
    shuffled = LabelMap(["2", "0", "1"])
    order = align_teacher(None, 3, shuffled)
    assert order.tolist() == [2, 0, 1]
    logits = np.array([[0.0, 1.0, 2.0]])  # the teacher's score for class c is c
    assert logits[:, order].tolist() == [[2.0, 0.0, 1.0]]


def test_align_integer_labels_not_0_to_c_minus_1_taken_in_order():
    labels = LabelMap.from_labels(["1", "2", "3"])  # e.g. 1-based star ratings
    assert align_teacher(None, 3, labels).tolist() == [0, 1, 2]
    labels = LabelMap.from_labels(["-1", "1"])
    assert align_teacher(None, 2, labels).tolist() == [0, 1]


def test_align_unnamed_teacher_with_string_labels_needs_a_mapping_and_named_mismatch_is_an_error():
    labels = LabelMap.from_labels(["spam", "ham"])
    with pytest.raises(ModelError, match="no names.*--teacher-labels"):
        align_teacher(None, 2, labels)
    # the user's mapping: the data's label of each teacher column, or a JSON map by column
    assert align_teacher(None, 2, labels, mapping="spam,ham").tolist() == [1, 0]
    assert align_teacher(None, 2, labels, mapping='{"0": "ham", "1": "spam"}').tolist() == [0, 1]
    # Names that do not (or only partly) match are never guessed.
    for names in (["LABEL_A", "LABEL_B"], ["ham", "other"]):
        with pytest.raises(ModelError, match="do not match"):
            align_teacher(names, 2, labels)


def test_named_teacher_matched_to_integer_labels_by_position_warns():
    said = []
    assert align_teacher(["neg", "pos"], 2, LabelMap.from_labels(["0", "1"]), log=said.append).tolist() == [0, 1]
    # the hint names the mapping that was used, so that giving it as printed works
    assert said and "by value, as --teacher-labels 0,1 would" in said[0]
    assert align_teacher(["neg", "pos"], 2, LabelMap.from_labels(["0", "1"]), mapping="0,1").tolist() == [0, 1]


@pytest.mark.parametrize("teacher_classes, data_labels", [(3, ["0", "1"]), (2, ["a", "b", "c"]), (5, ["x", "y"])])
def test_align_class_count_mismatch_is_model_error(teacher_classes, data_labels):
    labels = LabelMap.from_labels(data_labels)
    with pytest.raises(ModelError, match=f"predicts {teacher_classes} classes.*has {len(data_labels)}"):
        align_teacher(None, teacher_classes, labels)
    names = [f"n{i}" for i in range(teacher_classes)]
    with pytest.raises(ModelError):
        align_teacher(names, teacher_classes, labels)


# ---------------------------------------------------------------------------------------------------------------
# transfer_texts


def test_transfer_texts_dedupes_against_train_and_each_other_and_drops_blanks():
    train = TextDataset(["good film", "bad film", "good film"], None, ["1", "0", "1"], source="train")
    extra1 = TextDataset(["bad film", "new one", "", "   ", "new one", "another"], source="u1")
    extra2 = TextDataset(["another", "\t", "third", "good film", "new one", "Third"], source="u2")
    texts, pairs = transfer_texts(train, [extra1, extra2])
    assert pairs is None
    # Training texts come first, all of them (their gold labels are aligned by position), duplicates included.
    assert texts[:3] == train.texts
    assert texts[3:] == ["new one", "another", "third", "Third"]
    assert not any(not t.strip() for t in texts)


def test_transfer_texts_does_not_modify_inputs():
    train = TextDataset(["a"], None, ["x"], source="train")
    extra = TextDataset(["b", "a"], source="u")
    texts, _ = transfer_texts(train, [extra])
    assert texts == ["a", "b"]
    assert train.texts == ["a"] and extra.texts == ["b", "a"]


def test_transfer_texts_no_unlabeled_is_train_texts():
    train = TextDataset(["a", "b"], ["c", "d"], ["x", "y"], source="train")
    texts, pairs = transfer_texts(train, [])
    assert texts == ["a", "b"] and pairs == ["c", "d"]


def test_transfer_texts_pairs_deduped_as_pairs():
    train = TextDataset(["q1", "q2"], ["s1", "s2"], ["0", "1"], source="train")
    extra = TextDataset(["q1", "q1", "q3", "q3", " ", "q2"], ["s1", "s9", "s3", "s3", "s5", "s2"], source="u")
    texts, pairs = transfer_texts(train, [extra])
    # Same first text with another second text is a different input; exact (text, pair) repeats are dropped.
    assert list(zip(texts, pairs)) == [("q1", "s1"), ("q2", "s2"), ("q1", "s9"), ("q3", "s3")]


def test_transfer_texts_rejects_unlabeled_without_pairs_when_train_has_pairs():
    train = TextDataset(["q1"], ["s1"], ["0"], source="train.tsv")
    with pytest.raises(DataError, match="extra.jsonl"):
        transfer_texts(train, [TextDataset(["q2"], source="extra.jsonl")])


def test_transfer_texts_rejects_unlabeled_pairs_when_train_has_none():
    train = TextDataset(["a"], None, ["0"], source="train.tsv")
    ok = TextDataset(["b"], source="ok.txt")
    bad = TextDataset(["q"], ["s"], source="pairs.jsonl")
    with pytest.raises(DataError, match="pairs.jsonl"):
        transfer_texts(train, [ok, bad])


def test_transfer_texts_keep_dev_texts_out():
    train = TextDataset(["a", "b"], None, ["0", "1"], source="train")
    extra = TextDataset(["c", "dev text", "d"], None, None, source="extra")
    dev = TextDataset(["dev text"], None, ["0"], source="dev")
    texts, _ = transfer_texts(train, [extra], exclude=dev)
    assert texts == ["a", "b", "c", "d"]


def test_align_teacher_refuses_to_guess_named_labels_and_matches_case_and_label_n():
    with pytest.raises(ModelError, match="do not match"):
        align_teacher(["POSITIVE", "NEGATIVE"], 2, LabelMap(["neg", "pos"]))
    assert align_teacher(["Positive", "Negative"], 2, LabelMap(["negative", "positive"])).tolist() == [1, 0]
    names = [f"LABEL_{i}" for i in range(12)]
    order = align_teacher(None, 12, LabelMap.from_labels(names))
    assert [LabelMap.from_labels(names).names[i] for i in range(12)] == [f"LABEL_{c}" for c in order]
