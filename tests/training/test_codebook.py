from pathlib import Path

import pytest
import yaml

from training.codebook import CodebookError, load_codebook, parse_codebook

FACTOR_IDS = """ervaren_ruimte benutten_ruimte creeren_ruimte dagelijkse_praktijk bewustwording
handelingsrepertoire motivatie tevredenheid verbreden_verdiepen verwachtingen_impact
verwachtingen_vormgeving motief_gecontroleerd motief_autonoom motief_gecombineerd intentie
spanningen ruimte_bij_aanvang eerdere_professionalisering eerdere_initiatieven
rol_plg_begeleider gezamenlijk_leren_plg sfeer_plg vormgeving_plg sfeer_school
gezamenlijk_leren_school rol_schoolleiding facilitering veranderingen_omgeving secties""".split()


def test_shipped_codebook_has_every_fixed_factor(codebook_path):
    cb = load_codebook(codebook_path)
    assert list(cb.factor_ids) == FACTOR_IDS
    assert cb.version and len(cb.sha256) == 64
    assert cb.factor("ervaren_ruimte").richting == ("PO", "SO")
    assert cb.factor("dagelijkse_praktijk").richting == ("PO",)
    assert cb.factor("verbreden_verdiepen").richting == ("SO",)
    assert cb.factor("sfeer_plg").poles == {"+": "veilig-constructief", "-": "onveilig-destructief"}
    for f in cb.factors:
        assert f.definition and f.indicators, f.id


def _raw(codebook_path) -> dict:
    return yaml.safe_load(Path(codebook_path).read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d["factors"][3].pop("definition"), "code dagelijkse_praktijk: veld 'definition' ontbreekt"),
        (lambda d: d["factors"][0].update(richting=["PO", "XO"]), "code ervaren_ruimte: veld 'richting' bevat 'XO'"),
        (lambda d: d["factors"][5].update(group="nergens"),
         "code handelingsrepertoire: veld 'group' noemt een onbekende groep"),
        (lambda d: d["factors"][6].update(aard={"+": "hoog"}), "code motivatie: veld 'aard' moet precies de polen"),
        (lambda d: d["factors"].append(dict(d["factors"][0])), "code ervaren_ruimte: het id komt twee keer voor"),
        (lambda d: d["factors"][7].update(include=[{"Ook": "x"}]), "code tevredenheid: veld 'include'"),
    ],
)
def test_loader_names_code_and_field(codebook_path, mutate, message):
    data = _raw(codebook_path)
    mutate(data)
    with pytest.raises(CodebookError) as err:
        parse_codebook(data)
    assert message in str(err.value)


def test_retired_code_drops_out_of_active_factors(codebook_path):
    data = _raw(codebook_path)
    data["factors"][-1]["status"] = "retired"
    cb = parse_codebook(data)
    assert "secties" not in cb.factor_ids
    assert cb.factor("secties").status == "retired"


def test_unreadable_yaml_is_a_clear_error(tmp_path):
    bad = tmp_path / "cb.yaml"
    bad.write_bytes(b"id: [unclosed\n")
    with pytest.raises(CodebookError, match="geen geldige UTF-8-YAML"):
        load_codebook(bad)
