import pytest

from lmms_robust.judge.agreement import (
    agreement_summary,
    cohen_kappa,
    fleiss_kappa,
    fleiss_table,
    pairwise,
    rule_vs_judge,
    strict_agreement,
)

C, I, N, U = "consistent", "inconsistent", "no_conclusion", "undetermined"


def test_cohen_kappa_by_hand():
    # p_o = 5/6; marginals a: C 4/6, I 2/6; b: C 3/6, I 3/6 -> p_e = 12/36 + 6/36 = 1/2; kappa = (5/6-1/2)/(1/2) = 2/3
    a = [C, C, I, I, C, C]
    b = [C, I, I, I, C, C]
    assert cohen_kappa(a, b) == pytest.approx(2 / 3)
    # three labels: p_o = 2/4; both raters C 2/4, I 1/4, N 1/4 -> p_e = (4+1+1)/16 = 6/16 -> (8-6)/(16-6) = 1/5
    assert cohen_kappa([C, C, I, N], [C, I, C, N]) == pytest.approx(1 / 5)
    assert cohen_kappa([C, C], [C, C]) is None  # chance agreement 1: undefined
    assert cohen_kappa([], []) is None


def test_fleiss_kappa_by_hand_small():
    # unanimous items: P_i = 1, p = (1/2, 1/2), P_e = 1/2 -> kappa 1
    assert fleiss_kappa([[3, 0], [0, 3]]) == pytest.approx(1.0)
    # 2-1 splits: P_i = (4+1-3)/(3*2) = 1/3, P_e = 1/2 -> (1/3-1/2)/(1/2) = -1/3
    assert fleiss_kappa([[2, 1], [1, 2]]) == pytest.approx(-1 / 3)
    # P_i = (1, 1/3, 1) -> P̄ = 7/9; p = (5/9, 4/9) -> P_e = 41/81; kappa = (63/81-41/81)/(40/81) = 11/20
    assert fleiss_kappa([[3, 0], [2, 1], [0, 3]]) == pytest.approx(11 / 20)
    assert fleiss_kappa([[2, 0], [2, 0]]) is None
    assert fleiss_kappa([]) is None
    with pytest.raises(ValueError):
        fleiss_kappa([[2, 1], [1, 1]])


def test_fleiss_kappa_wikipedia_example():
    # Fleiss (1971) worked example as on Wikipedia: 10 items, 14 raters, 5 categories; P̄ = 0.378, P_e = 0.213
    table = [[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
             [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]]
    assert fleiss_kappa(table) == pytest.approx(0.2099, abs=5e-4)


def test_fleiss_table_counts():
    assert fleiss_table([[C, C, I], [N, N, N]]) == [[2, 1, 0], [0, 0, 3]]


def test_undetermined_is_excluded_and_counted():
    j1 = {1: C, 2: I, 3: C, 4: U, 5: "not_applicable"}
    j2 = {1: C, 2: C, 3: C, 4: C, 5: "not_applicable"}
    j3 = {1: C, 2: I, 3: U, 4: C}
    s = strict_agreement({"j1": j1, "j2": j2, "j3": j3})
    assert (s["n_items"], s["n_compared"], s["n_excluded_undetermined"]) == (4, 2, 2)
    assert s["strict_agreement"] == pytest.approx(0.5)
    # items 1 (C,C,C) and 2 (I,C,I): P̄ = (1 + 1/3)/2 = 2/3; p = (4/6, 2/6): P_e = 5/9 -> (6/9-5/9)/(4/9) = 1/4
    assert s["fleiss_kappa"] == pytest.approx(0.25)
    p = pairwise(j1, j2)
    assert (p["n_items"], p["n_compared"], p["n_excluded_undetermined"]) == (4, 3, 1)
    assert p["agreement"] == pytest.approx(2 / 3)


def test_rule_vs_judge_confusion():
    rule = {1: C, 2: C, 3: I, 4: N, 5: C}
    judge = {1: C, 2: I, 3: I, 4: N, 5: U}
    r = rule_vs_judge(rule, judge)
    assert r["n_compared"] == 4 and r["n_excluded_undetermined"] == 1
    assert r["agreement"] == pytest.approx(3 / 4)
    assert r["confusion"][C] == {C: 1, I: 1, N: 0} and r["confusion"][N][N] == 1
    # p_o = 3/4; rule C 2/4, I 1/4, N 1/4; judge C 1/4, I 2/4, N 1/4 -> p_e = (2+2+1)/16 = 5/16 -> 7/11
    assert r["cohen_kappa"] == pytest.approx(7 / 11)


def test_summary_shape():
    s = agreement_summary({"a": {1: C, 2: U}, "b": {1: C, 2: I}}, rule={1: C, 2: I})
    assert s["verdict_counts"]["a"][U] == 1
    assert s["pairwise"][0]["a"] == "a" and s["pairwise"][0]["n_compared"] == 1
    assert s["across_judges"]["strict_agreement"] == 1.0
    assert set(s["rule_vs_judge"]) == {"a", "b"} and "undetermined" in s["undetermined_policy"]


def test_rule_vs_judge_where_both_decided():
    rule = {1: C, 2: C, 3: I, 4: N, 5: C, 6: I}
    judge = {1: C, 2: I, 3: I, 4: C, 5: U, 6: N}
    r = rule_vs_judge(rule, judge)
    # both decided on 1, 2, 3 (4: the rules found no conclusion; 5: the judge undetermined; 6: the judge no conclusion)
    assert r["n_both_decided"] == 3 and r["agreement_both_decided"] == pytest.approx(2 / 3)
    assert rule_vs_judge({1: N}, {1: C})["agreement_both_decided"] is None
