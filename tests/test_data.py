"""Tests for textdistill.data: every shared benchmark file, plus small synthetic files for each format and error."""

import csv
import gzip
import io
import json
import os
from pathlib import Path

import numpy as np
import pytest

from textdistill.data.readers import LabelMap, TextDataset, read_dataset, read_texts
from textdistill.errors import DataError, ModelError, TextdistillError

REPO_ROOT = Path(__file__).resolve().parents[1]


def _shared_data() -> Path | None:
    env = os.environ.get("TEXTDISTILL_SHARED_DATA")
    path = Path(env) if env else REPO_ROOT.parent / "shared" / "data"
    return path if path.is_dir() else None


SHARED = _shared_data()
needs_shared = pytest.mark.skipif(
    SHARED is None, reason="shared benchmark data not found (set TEXTDISTILL_SHARED_DATA)"
)

# (file, read_dataset kwargs, rows, label set or None for unlabelled, has pairs)
SHARED_CASES = [
    ("sst2/train.tsv.gz", {}, 67349, {"0", "1"}, False),
    ("sst2/dev.tsv.gz", {}, 872, {"0", "1"}, False),
    ("sst2/test_unlabeled.tsv.gz", {}, 1821, None, False),
    ("imdb/train.csv.gz", {}, 25000, {"0", "1"}, False),
    ("imdb/test.csv.gz", {}, 25000, {"0", "1"}, False),
    ("imdb/unsup.csv.gz", {}, 50000, {"-1"}, False),
    ("ag_news/train_8k.csv.gz", {}, 8000, {"1", "2", "3", "4"}, False),
    ("ag_news/classes.txt", {}, 4, None, False),
    ("trec/train.csv.gz", {}, 5452, {str(i) for i in range(6)}, False),
    ("trec/test.csv.gz", {}, 500, {str(i) for i in range(6)}, False),
    ("sst5/train.csv.gz", {}, 8544, {str(i) for i in range(5)}, False),
    ("sst5/dev.csv.gz", {}, 1101, {str(i) for i in range(5)}, False),
    ("sst5/test.csv.gz", {}, 2210, {str(i) for i in range(5)}, False),
    ("dbpedia_14k/train_14k_noheader.csv.gz", {}, 14000, {str(i) for i in range(14)}, False),
    ("dbpedia_14k/train_14k_noheader.csv.gz", {"label": 0, "text": 1}, 14000, {str(i) for i in range(14)}, False),
    ("dbpedia_14k/classes.txt", {}, 14, None, False),
    ("20newsgroups/train.csv.gz", {}, 11314, {str(i) for i in range(20)}, False),
    ("20newsgroups/test.csv.gz", {}, 7532, {str(i) for i in range(20)}, False),
    ("20newsgroups/classes.txt", {}, 20, None, False),
    ("sms_spam/SMSSpamCollection.tsv.gz", {}, 5574, {"ham", "spam"}, False),
    ("reuters21578/all_docs.jsonl.gz", {}, 21578, None, False),
    ("glue/MRPC/train.tsv.gz", {}, 3668, {"0", "1"}, True),
    ("glue/MRPC/dev.tsv.gz", {}, 408, {"0", "1"}, True),
    ("glue/RTE/train.tsv.gz", {}, 2490, {"entailment", "not_entailment"}, True),
    ("glue/RTE/dev.tsv.gz", {}, 277, {"entailment", "not_entailment"}, True),
    ("glue/QNLI/dev.tsv.gz", {}, 5463, {"entailment", "not_entailment"}, True),
    ("glue/CoLA/train.tsv.gz", {"label": 1, "text": 3}, 8551, {"0", "1"}, False),
    ("glue/CoLA/dev.tsv.gz", {"label": "1", "text": "3"}, 1043, {"0", "1"}, False),
    ("glue/CoLA/dev.tsv.gz", {}, 1043, {"0", "1"}, False),
    ("unlabeled/amazon_reviews.jsonl.gz", {}, 75290, None, False),
    ("chnsenticorp_htl/train.csv.gz", {}, 5765, {"0", "1"}, False),
    ("chnsenticorp_htl/dev.csv.gz", {}, 800, {"0", "1"}, False),
    # multi-label: a set of labels per text (the label set is over every label of every row)
    ("goemotions/train.tsv.gz", {"label_sep": ","}, 43410, {str(i) for i in range(28)}, False),
    ("goemotions/dev.tsv.gz", {"label_sep": ",", "text": 0, "label": 1}, 5426, {str(i) for i in range(28)}, False),
    ("goemotions/emotions.txt", {}, 28, None, False),
]


@needs_shared
@pytest.mark.parametrize(
    "rel, kwargs, rows, labels, pairs", SHARED_CASES, ids=[f"{c[0]}{c[1] or ''}" for c in SHARED_CASES]
)
def test_shared_file(rel, kwargs, rows, labels, pairs):
    ds = read_dataset(SHARED / rel, **kwargs)
    assert len(ds) == rows
    assert ds.source == str(SHARED / rel)
    assert all(isinstance(t, str) for t in ds.texts)
    if labels is None:
        assert ds.labels is None
    elif ds.multi_label:
        assert {x for row in ds.labels for x in row} == labels and all(row for row in ds.labels)
    else:
        assert set(ds.labels) == labels
        assert len(ds.labels) == rows
        assert all(t.strip() for t in ds.texts)  # labelled data never has blank texts
    assert (ds.pairs is not None) == pairs
    if pairs:
        assert len(ds.pairs) == rows and all(p.strip() for p in ds.pairs)


@needs_shared
def test_shared_cases_cover_every_file():
    files = {str(p.relative_to(SHARED)) for p in SHARED.rglob("*") if p.is_file() and p.name != "README.md"}
    assert files == {c[0] for c in SHARED_CASES}


@needs_shared
def test_shared_content_details():
    sst2 = read_dataset(SHARED / "sst2/train.tsv.gz")
    assert sst2.texts[0] == "hide new secretions from the parental units "  # kept as is, trailing space too
    assert sst2.labels[:3] == ["0", "0", "1"]

    # MRPC starts with a BOM before "Quality"; its TSV has literal quotes that must not start quoted fields.
    mrpc = read_dataset(SHARED / "glue/MRPC/dev.tsv.gz", require_label=True)
    assert mrpc.labels[:3] == ["1", "0", "0"]
    assert mrpc.texts[0].startswith("He said the foodservice pie business")
    assert mrpc.pairs[0] == '" The foodservice pie business does not fit our long-term growth strategy .'
    assert read_dataset(SHARED / "glue/MRPC/dev.tsv.gz", label="Quality").labels == mrpc.labels

    qnli = read_dataset(SHARED / "glue/QNLI/dev.tsv.gz")
    assert qnli.texts[0] == "What came into force after the new constitution was herald?"
    assert qnli.pairs[0].startswith("As of that day, the new constitution")
    assert qnli.labels[0] == "entailment"

    rte = read_dataset(SHARED / "glue/RTE/dev.tsv.gz")
    assert rte.pairs[0] == "Christopher Reeve had an accident."

    imdb = read_dataset(SHARED / "imdb/train.csv.gz")
    assert imdb.texts[0].startswith("Bromwell High is a cartoon comedy.")
    assert sum("<br />" in t for t in imdb.texts) > 10000
    assert any("\n" not in t and '""' not in t and '"' in t for t in imdb.texts)  # CSV quotes unescaped

    auto = read_dataset(SHARED / "dbpedia_14k/train_14k_noheader.csv.gz")
    explicit = read_dataset(SHARED / "dbpedia_14k/train_14k_noheader.csv.gz", label=0, text=1)
    assert auto == explicit
    assert explicit.texts[0].startswith("Clifford Thomas Ward ( 10 February 1944")
    assert any("\t" in t for t in explicit.texts)  # tabs inside the CSV text are kept

    sms = read_dataset(SHARED / "sms_spam/SMSSpamCollection.tsv.gz")
    assert sms.labels[:3] == ["ham", "ham", "spam"]
    assert sms.texts[1] == "Ok lar... Joking wif u oni..."

    cola_auto = read_dataset(SHARED / "glue/CoLA/train.tsv.gz")
    cola = read_dataset(SHARED / "glue/CoLA/train.tsv.gz", label=1, text=3)
    assert cola == cola_auto
    assert cola.texts[0] == "Our friends won't buy this analysis, let alone the next one we propose."

    ag = read_dataset(SHARED / "ag_news/train_8k.csv.gz")
    assert ag.texts[0].startswith("Reuters - Saboteurs blew up")


@needs_shared
def test_shared_reuters_and_limits():
    path = SHARED / "reuters21578/all_docs.jsonl.gz"
    reuters = read_dataset(path, limit=500)
    assert len(reuters) == 500 and reuters.labels is None
    assert reuters.texts[0].startswith("Showers continued throughout the week")
    assert "" in reuters.texts  # title-only documents have an empty body; kept so rows stay aligned
    topics = read_dataset(path, text="title", label="topics", limit=50)  # JSON lists: multi-label data
    assert topics.multi_label and topics.labels[0] == ("cocoa",) and () in topics.labels  # a text with no topic
    with pytest.raises(DataError, match="refuses|multi-label"):
        read_dataset(path, text="title", label="topics", limit=50, multi_label=False)
    # With a label the blank bodies become an error naming the first one (newid 30, line 30).
    with pytest.raises(DataError, match=r"empty text in column 'text' at data row 30 "):
        read_dataset(path, label="lewissplit", limit=500)
    split = read_dataset(path, text="title", label="lewissplit", limit=90)
    assert set(split.labels) == {"TRAIN"} and len(split) == 90
    titles = read_dataset(path, text="title", limit=10)
    assert titles.texts[0] == "BAHIA COCOA REVIEW"
    with pytest.raises(DataError, match="require|label"):
        read_dataset(SHARED / "unlabeled/amazon_reviews.jsonl.gz", require_label=True, limit=10)
    assert len(read_texts(SHARED / "sst2/test_unlabeled.tsv.gz")) == 1821
    assert len(read_dataset(SHARED / "imdb/unsup.csv.gz", limit=123)) == 123


# ---------------------------------------------------------------------------------------------------
# Synthetic files


def write(path: Path, text: str, gz: bool = False) -> Path:
    data = text.encode("utf-8")
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


@pytest.mark.parametrize("gz", [False, True])
def test_csv_header_by_name_and_index(tmp_path, gz):
    p = write(tmp_path / ("a.csv.gz" if gz else "a.csv"), 'label,text\n1,"hello, world"\n0,"two\nlines"\n1,x\n', gz)
    ds = read_dataset(p)
    assert ds.texts == ["hello, world", "two\nlines", "x"]
    assert ds.labels == ["1", "0", "1"] and ds.pairs is None
    assert read_dataset(p, text=1, label=0) == ds
    assert read_dataset(p, text="1", label="0") == ds
    assert read_dataset(p, text="text", label="label") == ds
    assert read_dataset(p, text="TEXT") == ds  # case-insensitive fallback


def test_gzip_detected_by_magic_bytes(tmp_path):
    p = tmp_path / "data.csv"  # gzip content, no .gz extension
    p.write_bytes(gzip.compress(b"text,label\nhi,a\nho,b\n"))
    assert read_dataset(p).labels == ["a", "b"]
    q = write(tmp_path / "plain.tsv.gz", "sentence\tlabel\nyo\t1\n")  # .gz extension but not compressed
    assert read_dataset(q).texts == ["yo"]


def test_tsv_no_quoting_and_bom(tmp_path):
    p = write(tmp_path / "t.tsv", '\ufeffQuality\t#1 String\t#2 String\n1\t" quoted start\tsecond "x" \n0\ta\tb\n')
    ds = read_dataset(p)
    assert ds.texts == ['" quoted start', "a"]
    assert ds.pairs == ['second "x" ', "b"]
    assert ds.labels == ["1", "0"]


@pytest.mark.parametrize("gz", [False, True])
def test_tsv_without_header(tmp_path, gz):
    p = write(tmp_path / "s.tsv", "ham\tsee you later alligator\nspam\tWIN a prize now call 0800\nham\tok\n", gz)
    ds = read_dataset(p)
    assert ds.labels == ["ham", "spam", "ham"]
    assert ds.texts[1] == "WIN a prize now call 0800"
    # Text first, label second: the long column is the text whatever its position.
    q = write(tmp_path / "r.csv", "a rather long first text,3\nanother text here,10\nand one more text,3\n", gz)
    ds = read_dataset(q)
    assert ds.texts[0] == "a rather long first text" and ds.labels == ["3", "10", "3"]
    assert read_dataset(q, header=False, text=0, label=1) == ds


def test_header_forced(tmp_path):
    p = write(tmp_path / "h.csv", "good movie,pos\nbad movie,neg\n")
    assert read_dataset(p, header=False).texts == ["good movie", "bad movie"]
    forced = read_dataset(p, header=True, text="good movie", label="pos")
    assert forced.texts == ["bad movie"] and forced.labels == ["neg"]
    # Naming a column implies a header row.
    assert read_dataset(p, text="good movie").texts == ["bad movie"]
    q = write(tmp_path / "k.csv", "text,label\nx,1\n")
    assert read_dataset(q, header=False, text=0).texts == ["text", "x"]


def test_explicit_delimiter(tmp_path):
    p = write(tmp_path / "semi.csv", "text;label\nhello there;a\nbye;b\n")
    assert read_dataset(p, delimiter=";").labels == ["a", "b"]
    q = write(tmp_path / "tabs.txt", "sentence\tlabel\nhi\t1\n")
    assert read_dataset(q, delimiter="\\t").labels == ["1"]


def test_jsonl_and_json_array(tmp_path):
    rows = [{"id": 1, "text": "first", "label": 1.0}, {"id": 2, "text": "second", "label": 0}]
    p = write(tmp_path / "d.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n\n", gz=True)
    ds = read_dataset(p)
    assert ds.texts == ["first", "second"] and ds.labels == ["1", "0"]
    q = write(tmp_path / "d.json", json.dumps(rows))
    assert read_dataset(q) == TextDataset(ds.texts, None, ds.labels, str(q))
    assert read_dataset(q, text=1, label=2).labels == ["1", "0"]
    bad = write(tmp_path / "bad.jsonl", '{"text": "ok"}\n{"text": oops}\n')
    with pytest.raises(DataError, match=r"bad.jsonl: line 2 is not valid JSON"):
        read_dataset(bad)


def test_parquet(tmp_path):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    p = tmp_path / "d.parquet"
    pd.DataFrame({"sentence1": ["a b", "c d"], "sentence2": ["e", "f"], "y": [2.0, 10.0]}).to_parquet(p)
    ds = read_dataset(p)
    assert ds.texts == ["a b", "c d"] and ds.pairs == ["e", "f"] and ds.labels == ["2", "10"]
    assert read_dataset(p, text=1, label="y").texts == ["e", "f"]


def test_plain_text(tmp_path):
    p = write(tmp_path / "in.txt", "first line\n\n   \nsecond line  \r\nthird\n")
    assert read_dataset(p).texts == ["first line", "second line  ", "third"]
    assert read_texts(p) == ["first line", "second line  ", "third"]
    assert read_texts(p, limit=2) == ["first line", "second line  "]
    with pytest.raises(DataError, match="no label"):
        read_dataset(p, require_label=True)


def test_read_texts_table_and_stdin(tmp_path, monkeypatch):
    p = write(tmp_path / "t.csv", "id,review\n1,nice\n2,bad\n")
    assert read_texts(p) == ["nice", "bad"]
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO("one\n\ntwo é\n".encode()), encoding="utf-8"))
    assert read_texts("-") == ["one", "two é"]


def test_qnli_style_pairs_and_label_names(tmp_path):
    p = write(tmp_path / "q.tsv", "index\tquestion\tsentence\tlabel\n0\tWhy?\tBecause.\tentailment\n")
    ds = read_dataset(p)
    assert ds.texts == ["Why?"] and ds.pairs == ["Because."] and ds.labels == ["entailment"]
    single = read_dataset(p, text="sentence")
    assert single.texts == ["Because."] and single.pairs is None


def test_labels_normalised(tmp_path):
    p = write(tmp_path / "f.csv", "text,target\na,1.0\nb, 2 \nc,0.5\nd,-1\n")
    assert read_dataset(p).labels == ["1", "2", "0.5", "-1"]


def test_subset_and_len():
    ds = TextDataset(["a", "b", "c"], ["x", "y", "z"], ["0", "1", "0"], "src")
    sub = ds.subset(np.array([2, 0]))
    assert sub == TextDataset(["c", "a"], ["z", "x"], ["0", "0"], "src")
    assert len(ds.subset([1])) == 1 and ds.subset(np.array([True, False, True])).texts == ["a", "c"]
    assert TextDataset(["a"]).subset([0]).labels is None
    with pytest.raises(ValueError):
        TextDataset(["a", "b"], labels=["0"])


def test_label_map():
    lm = LabelMap.from_labels(["10", "2", "1", "2"])
    assert lm.names == ["1", "2", "10"] and len(lm) == 3
    assert LabelMap.from_labels(["-1", "0", "1"]).names == ["-1", "0", "1"]
    assert LabelMap.from_labels(["pos", "neg", "10", "2"]).names == ["10", "2", "neg", "pos"]
    ids = lm.encode(["10", "1", "2"])
    assert ids.dtype == np.int64 and ids.tolist() == [2, 0, 1]
    assert lm.decode(ids) == ["10", "1", "2"]
    assert lm.decode(np.int64(1)) == ["2"]
    assert LabelMap.from_dict(json.loads(json.dumps(lm.to_dict()))) == lm
    with pytest.raises(ModelError):
        LabelMap.from_dict({"names": "abc"})
    with pytest.raises(ValueError):
        lm.decode([3])


def test_label_map_unseen_label_message():
    lm = LabelMap(["neg", "pos"])
    with pytest.raises(DataError) as exc:
        lm.encode(["pos", "neutral", "neg"], source="dev.tsv")
    assert str(exc.value) == "dev.tsv: label 'neutral' was not seen in training (known: neg, pos)"
    with pytest.raises(DataError, match=r"labels 'a', 'b', 'c', 'd', 'e' and 1 more were not seen"):
        lm.encode(list("abcdef"))
    assert isinstance(exc.value, TextdistillError)


def test_missing_file(tmp_path):
    path = tmp_path / "nope.csv"
    with pytest.raises(DataError) as exc:
        read_dataset(path)
    assert str(exc.value) == f"no such file: {path}"
    with pytest.raises(DataError, match="no such file"):
        read_texts(path)


def test_missing_column_lists_columns(tmp_path):
    p = write(tmp_path / "train.tsv", "text\tlabel\nhi\t1\n")
    with pytest.raises(DataError) as exc:
        read_dataset(p, text="sentence")
    assert str(exc.value) == f"{p}: no text column 'sentence'; columns are: text, label"
    with pytest.raises(DataError, match=r"label column index 5 out of range; the file has 2 column\(s\)"):
        read_dataset(p, label=5)
    q = write(tmp_path / "noheader.tsv", "1\tsome text here\n0\tmore text here\n")
    with pytest.raises(DataError, match="index 2 out of range"):
        read_dataset(q, text=2)


@pytest.mark.parametrize(
    "content, message",
    [("", "file is empty"), ("\n  \n", "file is empty"), ("text,label\n", "no data rows below the header")],
)
def test_empty_files(tmp_path, content, message):
    p = write(tmp_path / "e.csv", content)
    with pytest.raises(DataError, match=message):
        read_dataset(p)
    if not content.strip("\n "):
        q = tmp_path / "e.txt.gz"
        q.write_bytes(gzip.compress(content.encode()))
        with pytest.raises(DataError, match="empty"):
            read_dataset(q)


def test_empty_jsonl(tmp_path):
    with pytest.raises(DataError, match="empty"):
        read_dataset(write(tmp_path / "e.jsonl", "\n"))


def test_non_utf8_bytes(tmp_path):
    p = tmp_path / "latin.csv"
    p.write_bytes("text,label\nok,1\ncaf\xe9 au lait,0\n".encode("latin-1"))
    with pytest.raises(DataError) as exc:
        read_dataset(p)
    msg = str(exc.value)
    assert msg.startswith(f"{p}: not valid UTF-8") and "line 3" in msg and "offset 19" in msg
    assert "\n" not in msg


def test_empty_text_and_label_cells(tmp_path):
    p = write(tmp_path / "train.csv", "text,label\ngood,1\n,0\n")
    with pytest.raises(DataError) as exc:
        read_dataset(p)
    assert "empty text" in str(exc.value) and "row 2" in str(exc.value) and "'text'" in str(exc.value)
    # Unlabelled data keeps blank texts, so predictions stay aligned with the input rows.
    q = write(tmp_path / "unlab.csv", "id,text\n1,good\n2,\n")
    assert read_dataset(q).texts == ["good", ""]
    r = write(tmp_path / "lab.csv", "text,label\ngood,1\nbad,\n")
    with pytest.raises(DataError, match="empty label in column 'label' at data row 2"):
        read_dataset(r)
    s = write(tmp_path / "blanklabels.csv", "text,label\ngood,\nbad,\n")
    assert read_dataset(s).labels is None  # a label column left blank means unlabelled
    with pytest.raises(DataError, match="empty label"):
        read_dataset(s, label="label")


def test_require_label(tmp_path):
    p = write(tmp_path / "t.csv", "id,text\n1,good\n2,bad\n")
    assert read_dataset(p).labels is None
    with pytest.raises(DataError, match=r"no label column found; columns are: id, text"):
        read_dataset(p, require_label=True)


def test_ragged_tsv(tmp_path):
    p = write(tmp_path / "r.tsv", "sentence\tlabel\na\t1\nb\t0\textra\n")
    with pytest.raises(DataError, match=r"r.tsv: cannot parse as TSV"):
        read_dataset(p)


def test_limit(tmp_path):
    p = write(tmp_path / "l.csv", "text,label\n" + "".join(f"t{i},{i % 2}\n" for i in range(100)))
    ds = read_dataset(p, limit=7)
    assert len(ds) == 7 and ds.texts[-1] == "t6"
    j = write(tmp_path / "l.jsonl", "".join(json.dumps({"text": f"t{i}"}) + "\n" for i in range(100)))
    assert read_dataset(j, limit=3).texts == ["t0", "t1", "t2"]


def test_unknown_format(tmp_path):
    p = write(tmp_path / "x.csv", "text\nhi\n")
    with pytest.raises(DataError, match="unknown format 'xml'"):
        read_dataset(p, format="xml")
    q = write(tmp_path / "data.dat", "sentence\tlabel\nhi\t1\n")
    assert read_dataset(q).labels == ["1"]
    assert read_dataset(p, format="tsv").texts == ["hi"]


def test_csv_module_compatible_quoting(tmp_path):
    rows = [["text", "label"], ['He said "hi", then left', "pos"], ["multi\nline\r\nreview", "neg"]]
    buf = io.StringIO()
    csv.writer(buf).writerows(rows)
    p = write(tmp_path / "q.csv", buf.getvalue())
    ds = read_dataset(p)
    assert ds.texts == ['He said "hi", then left', "multi\nline\r\nreview"]
    assert ds.labels == ["pos", "neg"]
