"""Label parsing, template sets, fitting labels to the text context, and the text-feature cache."""

from __future__ import annotations

import logging

import pytest
import torch

from clip_fixtures import tiny_backbone
from neuroclip_live.model.prompts import (
    MAX_LABELS,
    TEMPLATE_SETS,
    LabelError,
    TextFeatureCache,
    fit_labels,
    format_prompt,
    parse_labels,
    parse_labels_with_notes,
    read_label_file,
    resolve_templates,
    text_features,
)


def test_commas_and_newlines_separate_labels():
    assert parse_labels("cat, dog\ncar") == ["cat", "dog", "car"]
    assert parse_labels("cat,dog\r\ncar") == ["cat", "dog", "car"]


def test_empty_labels_ignored_with_a_note():
    result = parse_labels_with_notes("cat,, dog,\n\n , car,")
    assert result.labels == ["cat", "dog", "car"]
    assert result.notes == ["ignored 5 empty labels"]


def test_duplicates_merged_ignoring_case_and_spacing_keeping_the_first():
    result = parse_labels_with_notes("Hot  Dog, cat, hot dog, CAT, dog")
    assert result.labels == ["Hot Dog", "cat", "dog"]
    assert len(result.notes) == 2 and all("merged duplicate" in n for n in result.notes)


def test_punctuation_only_is_not_a_label():
    result = parse_labels_with_notes("cat, ..., !?, dog")
    assert result.labels == ["cat", "dog"]
    assert "2 labels made only of punctuation" in result.notes[0]
    with pytest.raises(LabelError, match="no labels given"):
        parse_labels("!!!, ...,\n;;")
    with pytest.raises(LabelError, match="no labels given"):
        parse_labels("")


def test_thousands_of_labels_refused_in_one_line():
    parse_labels(",".join(f"thing {i}" for i in range(MAX_LABELS)))
    with pytest.raises(LabelError, match=f"{MAX_LABELS + 1} labels") as err:
        parse_labels(",".join(f"thing {i}" for i in range(MAX_LABELS + 1)))
    assert "\n" not in str(err.value)


def test_very_long_label_cut_with_a_note():
    result = parse_labels_with_notes("x" * 5000 + ", dog")
    assert len(result.labels[0]) == 300 and result.labels[1] == "dog"
    assert "cut" in result.notes[0]


def test_a_list_is_taken_as_labels_without_splitting_commas():
    assert parse_labels(["red, green", " blue "]) == ["red, green", "blue"]


def test_parse_labels_logs_its_notes(caplog):
    with caplog.at_level(logging.WARNING, logger="neuroclip_live.model.prompts"):
        parse_labels("cat, Cat")
    assert "merged duplicate label 'Cat'" in caplog.text


def test_label_file_with_comments(tmp_path):
    path = tmp_path / "labels.txt"
    path.write_text("# digits\nzero\none, two\n  # not a label\n", encoding="utf-8")
    assert read_label_file(str(path)).labels == ["zero", "one", "two"]
    with pytest.raises(LabelError, match="cannot read label file"):
        read_label_file(str(tmp_path / "missing.txt"))
    bad = tmp_path / "latin1.txt"
    bad.write_bytes(b"caf\xe9")
    with pytest.raises(LabelError, match="not UTF-8"):
        read_label_file(str(bad))


def test_template_sets_and_custom_templates():
    assert resolve_templates(None) == TEMPLATE_SETS["event"]
    assert len(resolve_templates(None)) > 1
    assert resolve_templates("nmnist") == ('A black and white photo of the Arabic numeral number: "{}".',)
    assert resolve_templates("cifar10dvs") == ("A low quality stick figure of the object {}.",)
    assert resolve_templates("esimagenet") == ("A low quality point cloud image of {}.",)
    assert resolve_templates("a drawing of {}") == ("a drawing of {}",)
    assert resolve_templates(["a {}", "the {}"]) == ("a {}", "the {}")
    with pytest.raises(LabelError, match="unknown template set 'bogus'"):
        resolve_templates("bogus")
    with pytest.raises(LabelError, match="must contain"):
        resolve_templates(["a {}", "no slot"])


def test_format_prompt_reads_underscores_as_spaces_and_tolerates_braces():
    assert format_prompt("a photo of a {}.", "traffic_light") == "a photo of a traffic light."
    assert format_prompt("{} {0}", "x{}") == "x{} {0}"


def test_labels_longer_than_the_context_are_cut_at_words():
    backbone = tiny_backbone()  # 16-token context
    tok = backbone.tokenizer
    templates = ("a photo of a {}.", "{}")
    long = "very large and extremely fluffy orange cat sitting on a mat"
    result = fit_labels(["cat", long], tok, templates, backbone.context_length)
    assert result.labels[0] == "cat"
    cut = result.labels[1]
    assert long.startswith(cut) and len(cut) < len(long)
    assert len(tok.encode(format_prompt(templates[0], cut))) + 2 <= 16  # the longest template fits
    one_more = " ".join(long.split()[: len(cut.split()) + 1])
    assert len(tok.encode(format_prompt(templates[0], one_more))) + 2 > 16  # one more word would not
    assert "16-token text context" in result.notes[0]


def test_one_enormous_word_is_cut_to_a_prefix():
    backbone = tiny_backbone()
    result = fit_labels(["supercalifragilistic" * 5], backbone.tokenizer, ("a {}",), backbone.context_length)
    assert 0 < len(result.labels[0]) < 100
    assert len(backbone.tokenizer.encode("a " + result.labels[0])) + 2 <= 16


def test_ensembled_text_features_are_the_normalised_mean_over_templates():
    backbone = tiny_backbone()
    templates = ("a photo of a {}.", "a sketch of a {}.", "an event image of a {}.")
    got = text_features(backbone, ["cat", "dog"], templates, ensemble=True)
    per_template = backbone.encode_text([t.replace("{}", "dog") for t in templates])
    mean = per_template.mean(0)
    assert torch.allclose(got[1], mean / mean.norm(), atol=1e-6)
    assert torch.allclose(got.norm(dim=-1), torch.ones(2), atol=1e-6)
    single = text_features(backbone, ["cat"], templates, ensemble=False)
    assert torch.allclose(single[0], backbone.encode_text(["a photo of a cat."])[0], atol=1e-6)


def test_cache_recomputes_only_changed_labels_and_templates():
    backbone = tiny_backbone()
    cache = TextFeatureCache(backbone)
    templates = ("a photo of a {}.", "a {}.")
    first = cache.features(["cat", "dog"], templates)
    assert cache.prompts_encoded == 4
    again = cache.features(["cat", "dog"], templates)
    assert cache.prompts_encoded == 4 and torch.equal(first, again)
    grown = cache.features(["dog", "cat", "car"], templates)  # reordered plus one new label
    assert cache.prompts_encoded == 6
    assert torch.equal(grown[0], first[1]) and torch.equal(grown[1], first[0])
    assert torch.allclose(grown, text_features(backbone, ["dog", "cat", "car"], templates), atol=1e-6)
    cache.features(["cat"], ("a {}.",))  # other templates: new features
    assert cache.prompts_encoded == 7
    cache.features(["cat"], templates, ensemble=False)
    assert cache.prompts_encoded == 8


def test_cache_is_bounded():
    cache = TextFeatureCache(tiny_backbone(), max_entries=3)
    cache.features(["a", "b", "c"], ("{}",))
    cache.features(["d"], ("{}",))
    cache.features(["a"], ("{}",))  # "a" was the oldest: dropped, encoded again
    assert cache.prompts_encoded == 5
