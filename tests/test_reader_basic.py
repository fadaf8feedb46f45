"""First reader checks against the simulator (the full matrix lives in test_reader.py)."""

from pf_exporter.reader import Reader


def test_small_scenario_reads_end_to_end(sim, device):
    r = Reader(device)
    st = r.status()
    assert st.running and st.states == len(sim.states) and st.loginterface == "em0"
    assert len(r.limits()) == 7 and len(r.timeouts()) == 20
    assert {t.name for t in r.tables()} == {"admins", "bruteforce", "guests", "martians", "private", "spamd"}
    assert sum(len(rs.rules) for rs in r.rulesets()) == 44
    assert len(list(r.states())) == len(sim.states)
    assert sim.open_tickets() == 0
