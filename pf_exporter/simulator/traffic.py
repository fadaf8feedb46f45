"""The traffic model: how counters move when simulated time passes."""

from __future__ import annotations

import heapq
from typing import TYPE_CHECKING

from ..abi import constants as C

if TYPE_CHECKING:
    from .kernel import PfKernel as Simulator

# PFRES_* counters other than "match" grow at these fractions of the matched packets.
_PFRES_SHARE = {
    C.PFRES_BADOFF: 1e-6, C.PFRES_FRAG: 2e-5, C.PFRES_SHORT: 5e-6, C.PFRES_NORM: 3e-5, C.PFRES_MEMORY: 0.0,
    C.PFRES_TS: 1e-6, C.PFRES_CONGEST: 1e-6, C.PFRES_IPOPTIONS: 2e-6, C.PFRES_PROTCKSUM: 1e-6,
    C.PFRES_BADSTATE: 4e-4, C.PFRES_STATEINS: 1e-6, C.PFRES_MAXSTATES: 0.0, C.PFRES_SRCLIMIT: 1e-6,
    C.PFRES_SYNPROXY: 0.0, C.PFRES_TRANSLATE: 0.0, C.PFRES_NOROUTE: 2e-6,
}


def accumulate(sim: Simulator, dt: float) -> None:  # noqa: C901 - one counter model per pf object kind, in one pass
    """Add *dt* seconds of traffic to every counter (no state churn, the clock stays)."""
    matched = 0.0
    for r in sim.iter_rules():
        if not r.rate:
            continue
        ev = r.rate * dt
        r.evaluations += ev
        m = ev * r.pass_share
        pin = m * (0.6 if r.direction != C.PF_OUT else 0.4)
        r.packets[0] += pin
        r.packets[1] += m - pin
        r.bytes[0] += pin * r.bpp * 0.5
        r.bytes[1] += (m - pin) * r.bpp * 1.5
        matched += m
    sim.counters[C.PFRES_MATCH] += matched
    for idx, share in _PFRES_SHARE.items():
        sim.counters[idx] += matched * share
    sim.fcounters[C.FCNT_STATE_SEARCH] += matched * 2.5
    sim.lcounters[C.LCNT_SRCCONN] += dt * 0.001
    sim.lcounters[C.LCNT_OVERLOAD_TABLE] += dt * 0.0005
    sim.lcounters[C.LCNT_STATES] += dt * 0.0002
    sim.ncounters[C.NCNT_FRAG_SEARCH] += matched * 2e-5
    sim.ncounters[C.NCNT_FRAG_INSERT] += matched * 1e-5
    sim.ncounters[C.NCNT_FRAG_REMOVALS] += matched * 1e-5
    for k in sim.kifs.values():
        if not k.has_ifp or not k.bpp:
            continue
        for i, rate in enumerate(k.rates):
            p = rate * dt
            k.packets[i] += p
            k.bytes[i] += p * k.bpp
    for kt in sim.tables.tables.values():
        if not kt.rate or not kt.active:
            continue
        n = kt.rate * dt
        kt.match += n * 0.7
        kt.nomatch += n * 0.3
        for d in range(2):
            for op, share in ((C.PFR_OP_BLOCK, 0.2), (C.PFR_OP_PASS, 0.5), (C.PFR_OP_MATCH, 0.3)):
                kt.packets[d * 4 + op] += n * share * (0.6 if d == 0 else 0.4)
                kt.bytes[d * 4 + op] += n * share * (0.6 if d == 0 else 0.4) * kt.bpp
        for e in kt.entries.values():
            if e.counters and e.rate:
                p = e.rate * dt
                e.packets[0 * 3 + C.PFR_OP_PASS] += p * 0.6
                e.packets[1 * 3 + C.PFR_OP_PASS] += p * 0.4
                e.packets[0 * 3 + C.PFR_OP_BLOCK] += p * 0.05
                e.bytes[0 * 3 + C.PFR_OP_PASS] += p * 0.6 * e.bpp
                e.bytes[1 * 3 + C.PFR_OP_PASS] += p * 0.4 * e.bpp
                e.bytes[0 * 3 + C.PFR_OP_BLOCK] += p * 0.05 * e.bpp
    for q in sim.queues:
        if not q.rate:
            continue
        p = q.rate * dt
        q.xmit_packets += p
        q.xmit_bytes += p * q.bpp
        q.drop_packets += p * q.drop_share
        q.drop_bytes += p * q.drop_share * q.bpp
        q.period += int(p / 50) + 1
    for lim in sim.statelims.values():
        lim.admitted += lim.growth * dt
        lim.hardlimited += lim.growth * dt * 0.01
    for slim in sim.sourcelims.values():
        slim.admitted += slim.growth * dt
        slim.addrallocs += slim.growth * dt * 0.05
        slim.ratelimited += slim.growth * dt * 0.002


def flow(sim: Simulator, dt: float) -> None:
    """Traffic for *dt* seconds that just passed: counters grow, expired states go, new
    connections arrive at the rate that replaces them (the state count wanders around its
    target, and climbs back to it at that rate after states are killed)."""
    accumulate(sim, dt)
    sim.net.advance(dt)
    rng = sim.rng
    for q in sim.queues:
        if q.rate:
            q.qlength = rng.randrange(0, max(1, q.qlimit // 8))
    now = sim.clock.uptime()
    deaths = sim._deaths
    while deaths and deaths[0][0] <= now:
        _t, sid = heapq.heappop(deaths)
        st = sim.states.get(sid)
        if st is not None and st.death <= now:
            sim.remove_state(st)
    if sim.state_spawner is None:
        return
    target = sim.state_target
    # Connections arrive at the rate that holds the table at its target (target / mean life), with
    # some jitter; below the target each one makes a state.  After a kill the table refills at
    # that rate, so killed states stay gone for a while, as on a real firewall.
    sim._arrivals += target / sim.state_mean_life * dt * rng.uniform(0.8, 1.2)
    arrivals = int(sim._arrivals)
    sim._arrivals -= arrivals
    want = min(arrivals, int(target * rng.uniform(0.97, 1.03)) - len(sim.states))
    limit = sim.limits[C.PF_LIMIT_STATES]
    for _ in range(max(0, min(want, limit - len(sim.states)))):
        if sim.state_spawner(sim) is None:
            break
    if want > limit - len(sim.states):
        sim.counters[C.PFRES_MAXSTATES] += want - (limit - len(sim.states))
