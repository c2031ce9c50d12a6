"""Published deployment records (the Met's grids): per-year figures, rates with intervals, and the
explicit handling of every irregularity the file's README lists."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.conftest import SHARED

from openlfr.errors import InputError
from openlfr.eval.intervals import clopper_pearson
from openlfr.services.published import PublishedReport, published_report

MET = SHARED / "data" / "met-deployments" / "met_lfr_deployments.csv"


@pytest.fixture(scope="module")
def met() -> dict:
    if not MET.is_file():
        pytest.skip(f"published records not found at {MET} (set OPENLFR_SHARED_DIR)")
    return published_report(MET)


@pytest.mark.shared_data
def test_2024_matches_the_published_figures(met: PublishedReport) -> None:
    y = met.years["2024"]
    assert (y["deployments"], y["faces_seen"], y["alerts"], y["false_alerts"]) == (180, 902_748, 1_286, 27)
    assert (y["true_alerts"], y["true_alerts_confirmed"], y["true_alerts_unconfirmed"], y["arrests"]) == (
        1_260,
        1_242,
        18,
        575,
    )
    assert y["faces_per_false_alert"] == 33_435  # "1 in about 33,400 faces"
    assert round(100 * y["share_of_alerts_wrong"], 1) == 2.1  # "2.1% of alerts wrong"
    assert y["false_alerts_per_face"] == pytest.approx(27 / 902_748)
    assert y["false_alerts_per_face_ci"] == pytest.approx(list(clopper_pearson(27, 902_748)))
    assert y["share_of_alerts_wrong_ci"] == pytest.approx(list(clopper_pearson(27, 1_286)))
    lo, hi = y["share_of_alerts_wrong_ci"]
    assert lo < 27 / 1286 < hi
    kinds = {(i["kind"], i["location"]) for i in y["irregularities"]}
    assert ("alerts_total_mismatch", "Westminster") in kinds  # 10 Jan 2024: printed 1, columns sum to 2
    assert ("date_corrected", "Dalston") in kinds  # printed 11/07/23, counted in 2024
    assert y["no_action"] is None and y["other_disposal_or_no_action"] is not None
    assert any("identical" in n for n in y["notes"])


@pytest.mark.shared_data
def test_every_year_and_irregularity(met: PublishedReport) -> None:
    years = met.years
    assert list(years) == ["2020", "2022", "2023", "2024", "2025"]
    assert met.rows == 286 and sum(y["deployments"] for y in years.values()) == 286
    assert met.all["faces_seen"] == 2_529_031 and met.all["alerts"] == 2_186
    table = {
        k: (y["deployments"], y["faces_seen"], y["alerts"], y["true_alerts"], y["false_alerts"], y["arrests"])
        for k, y in years.items()
    }
    assert table == {
        "2020": (3, 13_200, 8, 1, 7, None),
        "2022": (6, 144_366, 20, 17, 3, None),
        "2023": (23, 326_392, 58, 56, 2, 34),
        "2024": (180, 902_748, 1_286, 1_260, 27, 575),
        "2025": (74, 1_142_325, 814, 809, 5, 342),
    }
    # the stopped Oxford Circus deployment counts, with no figures
    assert years["2020"]["deployments_with_figures"] == 2
    assert any(i["kind"] == "no_figures" and i["location"] == "Oxford Circus" for i in years["2020"]["irregularities"])
    assert years["2020"]["arrests_or_disposals_combined"] == 1 and years["2022"]["arrests_or_disposals_combined"] == 8
    mism = [i for i in years["2023"]["irregularities"] if i["kind"] == "published_rate_mismatch"]
    assert [i["location"] for i in mism] == ["Croydon, George St"]  # the only inconsistent printed rate
    assert not any(i["kind"] == "published_rate_mismatch" for k in ("2024", "2025") for i in years[k]["irregularities"])
    hounslow = [i for i in years["2025"]["irregularities"] if i["kind"] == "outcomes_exceed_true_alerts"]
    assert [i["location"] for i in hounslow] == ["High St, Hounslow"]
    assert years["2025"]["other_disposals"] is not None and years["2025"]["no_action"] is not None
    notes = " ".join(i["detail"] for i in years["2025"]["irregularities"])
    assert "19199" in notes  # Bond St watchlist size caveat carried through


HEADER = (
    "source_document,location,date,duration_minutes,purpose,watchlist_size,threshold,total_alerts,"
    "true_alerts_confirmed,true_alerts_unconfirmed,false_alerts_confirmed,false_alerts_unconfirmed,"
    "false_alert_rate_published,arrests,other_disposals,no_action,faces_seen,notes,source_page,"
    "date_as_printed,duration_as_printed\n"
)


def test_synthetic_file(tmp_path: Path) -> None:
    p = tmp_path / "grid.csv"
    p.write_text(
        HEADER + "G,A St,2024-03-01,60,x,100,0.6,3,2,0,1,0,0.05%,1,1,0,2000,,1,01/03/24,1h\n"
        "G,B St,2024-03-02,60,x,100,0.6,0,0,0,0,0,0%,0,0,0,1500,,1,02/03/24,1h\n"
        "G,C St,2024-03-03,,x,100,0.6,,,,,,,,,,,stopped,1,03/03/24,\n"
        'G,D St,2025-01-02,30,x,90,0.64,2,1,0,0,0,0%,1,0,0,"1,000",,2,02/01/24,30m\n'
    )
    y = published_report(p).years
    assert (y["2024"]["deployments"], y["2024"]["deployments_with_figures"], y["2024"]["faces_seen"]) == (3, 2, 3500)
    assert y["2024"]["false_alerts"] == 1 and y["2024"]["share_of_alerts_wrong"] == pytest.approx(1 / 3)
    assert y["2024"]["false_alerts_per_face"] == pytest.approx(1 / 3500)
    k24 = {i["kind"] for i in y["2024"]["irregularities"]}
    assert {"no_figures", "source_note"} <= k24
    k25 = {i["kind"] for i in y["2025"]["irregularities"]}
    assert {"date_corrected", "alerts_total_mismatch"} <= k25
    assert y["2025"]["faces_seen"] == 1000 and y["2025"]["false_alerts_per_face"] == 0.0
    assert y["2025"]["false_alerts_per_face_ci"][0] == 0.0
    assert y["2025"]["false_alerts_per_face_ci"][1] == pytest.approx(1 - 0.025 ** (1 / 1000))


def test_bad_files(tmp_path: Path) -> None:
    p = tmp_path / "bad.csv"
    p.write_text("location,date\nX,2024-01-01\n")
    with pytest.raises(InputError) as e:
        published_report(p)
    assert e.value.code == "bad_columns"
    p.write_text(HEADER + "G,A St,01/03/24,60,x,100,0.6,3,2,0,1,0,0.05%,1,1,0,2000,,1,01/03/24,1h\n")
    with pytest.raises(InputError) as e:
        published_report(p)
    assert e.value.code == "bad_date" and "line 2" in e.value.message
    with pytest.raises(InputError):
        published_report(tmp_path / "missing.csv")
