"""Clock-mode kernel for networks with astrocytes, SIC input or Tsodyks synapses.

``EventEngine`` hands a run over to :func:`run_clock_astro` when the network has an
``Astrocyte`` or ``AdExAstro`` population, a projection from an astrocyte (a SIC projection) or
a projection with a ``TsodyksSynapse`` rule (:func:`uses_astro_kernel`), as it hands plastic
networks to ``engines/plastic.py``; networks without them never touch this module.

Within step ``n``:

1. the populations of the shared kernels (``kernels.update_neurons``) update, reading ring slot
   ``n`` (those that receive SIC are left to step 2);
2. astrocytes, AdExAstro neurons and SIC-receiving CubaLIF neurons update in NEST's order (see
   ``spiking.models.astrocytes``): neurons integrate with the SIC loaded in step ``n - 1``, fire,
   take the spikes of slot ``n``, and load the SIC that arrives in step ``n``; astrocytes
   integrate, clamp calcium, take the IP3 jumps of slot ``n`` and send their SIC, which a SIC
   projection of delay ``d`` makes arrive in step ``n + d`` (NEST's secondary-event timing);
3. the ring slot is cleared; every spike of the step (neurons and sources) is delivered: static
   synapses by ``kernels.deliver``, Tsodyks synapses after their exact update (weight
   ``u x w`` into slot ``n + delay``).

Integration (per unit): the GSL ``gsl_odeiv_evolve_apply`` loop with the RKF45 stepper and the
standard step-size control (the legacy GSL ``ode-initval`` algorithm that NEST calls: a step is
retried with a smaller size when the scaled error exceeds 1.1, the next step grows by up to 5x
when it is below 0.5), or fixed-step RK4 (see ``spiking.models.astrocytes``).
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from ..models.astrocytes import AdExAstro, Astrocyte, LeakyAstrocyte, ModulatedLIF
from ..models.neurons import COEF, LIF, CubaLIF, integrated_decay
from ..models.tsodyks import TsodyksSynapse
from ..recording import Recording
from .kernels import deliver, new_refractory, update_neurons

CODE_ASTRO, CODE_ADEX, CODE_CUBA_SIC, CODE_LEAKY, CODE_LIF_SIC = 0, 1, 2, 3, 4
N_PAR = 32
N_X = 8
# astrocyte parameter columns
A_CATOT, A_IP30, A_KD1, A_KD2, A_KDACT, A_KDINH, A_KMS, A_SICS, A_SICTH, A_DIP3 = range(10)
A_KIP3R, A_RIP3R, A_RL, A_RSERCA, A_RATIO, A_TAUIP3 = range(10, 16)
# AdExAstro parameter columns
E_VPEAK, E_VRESET, E_REF, E_GL, E_CM, E_EEX, E_EIN, E_EL, E_DT, E_TAUW = range(10)
E_A, E_B, E_VTH, E_TSE, E_TSI, E_IE, E_VSPIKE, E_G0E, E_G0I = range(10, 19)
# CubaLIF-with-SIC: pA of SIC -> mV over one step
C_KSIC = 0
# LeakyAstrocyte: decay per step; LIF/ModulatedLIF with SIC: 1 = threshold modulation
L_DECAY = 0
M_THRESHOLD = 0
# integrator columns (all unit kinds)
P_EPS_ABS, P_EPS_REL, P_AY, P_ADYDT, P_INTEG, P_SUB = 24, 25, 26, 27, 28, 29

_STATE_FIELD = {
    "Astrocyte": {"IP3": 0, "Ca_astro": 1, "h_IP3R": 2, "SIC": 3},
    "AdExAstro": {"v": 0, "dg_ex": 1, "g_ex": 2, "dg_in": 3, "g_in": 4, "w": 5, "I_SIC": 6},
    "LeakyAstrocyte": {"a": 0},
}
_SIC_SOURCES = (Astrocyte, LeakyAstrocyte)
_OWN_MODELS = (Astrocyte, AdExAstro, LeakyAstrocyte, ModulatedLIF)
_SHARED_FIELD = {"v": -1, "i_e": -2, "i_i": -3}
_C_V_REST, _C_DRIVE, _C_P22, _C_P21E, _C_P21I = COEF["v_rest"], COEF["drive"], COEF["p22"], COEF["p21e"], COEF["p21i"]
_C_V_TH, _C_SOFT_RESET, _C_V_RESET, _C_REF_STEPS = COEF["v_th"], COEF["soft_reset"], COEF["v_reset"], COEF["ref_steps"]
_C_P11E, _C_P11I = COEF["p11e"], COEF["p11i"]


def _takes_sic(model) -> bool:
    return (isinstance(model, (AdExAstro, ModulatedLIF, LIF))
            or (isinstance(model, CubaLIF) and model.update_order == "nest"))


def uses_astro_kernel(net) -> bool:
    """True when ``net`` needs this kernel; checks what it needs (raises on bad input)."""
    pops = net.populations
    astro = {n for n, p in pops.items() if isinstance(p.model, _SIC_SOURCES)}
    own = any(isinstance(p.model, _OWN_MODELS) for p in pops.values())
    tsodyks = any(isinstance(p.plasticity, TsodyksSynapse) for p in net.projections)
    sic = any(p.pre in astro for p in net.projections)
    if not (own or tsodyks or sic):
        return False
    for proj in net.projections:
        post = pops[proj.post].model
        if proj.pre in astro:
            if not _takes_sic(post):
                raise ValueError(f"SIC projection {proj.name!r} from astrocytes {proj.pre!r} onto {proj.post!r} "
                                 f"({type(post).__name__}): expected a neuron model that takes SIC input "
                                 "(AdExAstro, LIF, ModulatedLIF, or CubaLIF with update_order='nest')")
            if proj.plasticity is not None:
                raise ValueError(f"SIC projection {proj.name!r}: expected no plasticity rule, got "
                                 f"{type(proj.plasticity).__name__}")
        if isinstance(post, Astrocyte) and proj.pre not in astro and proj.receptor != "excitatory":
            raise ValueError(f"projection {proj.name!r} onto astrocytes {proj.post!r} has receptor="
                             f"{proj.receptor!r}: an astrocyte takes only non-negative weights (NEST "
                             "astrocyte_lr_1994 refuses negative ones); expected 'excitatory'")
        if proj.plasticity is not None and not isinstance(proj.plasticity, TsodyksSynapse):
            raise ValueError(f"projection {proj.name!r} plasticity {type(proj.plasticity).__name__}: networks with "
                             "astrocytes, SIC or Tsodyks synapses run TsodyksSynapse rules only")
    for p in pops.values():
        if isinstance(p.model, _OWN_MODELS):
            p.model.check_state(p.initial_state(), p.name)
    return True


# ---------------------------------------------------------------------------------------------
# derivatives and integrators

@njit(cache=True, nogil=True)
def _rhs(code, y, f, p, refr, isic):
    if code == CODE_ASTRO:
        ip3 = y[0]
        ca = min(max(y[1], 0.0), p[A_CATOT])
        h = y[2]
        alpha = p[A_KIP3R] * p[A_KDINH] * (ip3 + p[A_KD1]) / (ip3 + p[A_KD2])
        beta = p[A_KIP3R] * ca
        j_pump = p[A_RSERCA] * ca * ca / (p[A_KMS] * p[A_KMS] + ca * ca)
        m = ip3 / (ip3 + p[A_KD1])
        n = ca / (ca + p[A_KDACT])
        ca_er = (p[A_CATOT] - ca) / p[A_RATIO]
        j_leak = p[A_RATIO] * p[A_RL] * (ca_er - ca)
        j_chan = p[A_RATIO] * p[A_RIP3R] * m ** 3 * n ** 3 * h ** 3 * (ca_er - ca)
        f[0] = (p[A_IP30] - ip3) / p[A_TAUIP3]
        f[1] = j_chan - j_pump + j_leak
        f[2] = alpha * (1.0 - h) - beta * h
    else:
        v = p[E_VRESET] if refr else min(y[0], p[E_VPEAK])
        dg_ex = y[1]
        g_ex = y[2]
        dg_in = y[3]
        g_in = y[4]
        w = y[5]
        i_ex = g_ex * (v - p[E_EEX])
        i_in = g_in * (v - p[E_EIN])
        i_spike = 0.0 if p[E_DT] == 0.0 else p[E_GL] * p[E_DT] * math.exp((v - p[E_VTH]) / p[E_DT])
        if refr:
            f[0] = 0.0
        else:
            f[0] = (-p[E_GL] * (v - p[E_EL]) + i_spike - i_ex - i_in - w + p[E_IE] + isic) / p[E_CM]
        f[1] = -dg_ex / p[E_TSE]
        f[2] = dg_ex - g_ex / p[E_TSE]
        f[3] = -dg_in / p[E_TSI]
        f[4] = dg_in - g_in / p[E_TSI]
        f[5] = (p[E_A] * (v - p[E_EL]) - w) / p[E_TAUW]


# Runge-Kutta-Fehlberg 4(5) tableau (GSL ode-initval/rkf45.c uses the same Fehlberg numbers)
_A2 = 1.0 / 4.0
_B3 = (3.0 / 32.0, 9.0 / 32.0)
_B4 = (1932.0 / 2197.0, -7200.0 / 2197.0, 7296.0 / 2197.0)
_B5 = (8341.0 / 4104.0, -32832.0 / 4104.0, 29440.0 / 4104.0, -845.0 / 4104.0)
_B6 = (-6080.0 / 20520.0, 41040.0 / 20520.0, -28352.0 / 20520.0, 9295.0 / 20520.0, -5643.0 / 20520.0)
_C1, _C3, _C4, _C5, _C6 = (902880.0 / 7618050.0, 3953664.0 / 7618050.0, 3855735.0 / 7618050.0,
                           -1371249.0 / 7618050.0, 277020.0 / 7618050.0)
_EC1, _EC3, _EC4, _EC5, _EC6 = 1.0 / 360.0, -128.0 / 4275.0, -2197.0 / 75240.0, 1.0 / 50.0, 2.0 / 55.0


@njit(cache=True, nogil=True)
def _rkf45_step(code, dim, y, h, p, refr, isic, k, ytmp, yerr, dydt_out):
    """One RKF45 step of size h from y (k[0] holds dy/dt at y on entry); y advances with the
    fifth-order solution, yerr gets the error estimate, dydt_out the derivative at the end."""
    for i in range(dim):
        ytmp[i] = y[i] + _A2 * h * k[0, i]
    _rhs(code, ytmp, k[1], p, refr, isic)
    for i in range(dim):
        ytmp[i] = y[i] + h * (_B3[0] * k[0, i] + _B3[1] * k[1, i])
    _rhs(code, ytmp, k[2], p, refr, isic)
    for i in range(dim):
        ytmp[i] = y[i] + h * (_B4[0] * k[0, i] + _B4[1] * k[1, i] + _B4[2] * k[2, i])
    _rhs(code, ytmp, k[3], p, refr, isic)
    for i in range(dim):
        ytmp[i] = y[i] + h * (_B5[0] * k[0, i] + _B5[1] * k[1, i] + _B5[2] * k[2, i] + _B5[3] * k[3, i])
    _rhs(code, ytmp, k[4], p, refr, isic)
    for i in range(dim):
        ytmp[i] = y[i] + h * (_B6[0] * k[0, i] + _B6[1] * k[1, i] + _B6[2] * k[2, i] + _B6[3] * k[3, i]
                              + _B6[4] * k[4, i])
    _rhs(code, ytmp, k[5], p, refr, isic)
    for i in range(dim):
        d = _C1 * k[0, i] + _C3 * k[2, i] + _C4 * k[3, i] + _C5 * k[4, i] + _C6 * k[5, i]
        y[i] += h * d
    _rhs(code, y, dydt_out, p, refr, isic)
    for i in range(dim):
        yerr[i] = h * (_EC1 * k[0, i] + _EC3 * k[2, i] + _EC4 * k[3, i] + _EC5 * k[4, i] + _EC6 * k[5, i])


@njit(cache=True, nogil=True)
def _evolve_apply(code, dim, y, t0, t1, hs, p, refr, isic, k, ytmp, yerr, dydt_out, y0):
    """One call of GSL's ``gsl_odeiv_evolve_apply`` (legacy ode-initval, RKF45, standard control
    with ``eps_abs, eps_rel, a_y, a_dydt``): one accepted step from t0 toward t1, retried with a
    smaller size while the error is too large. Returns (new t, suggested next step size)."""
    eps_abs = p[P_EPS_ABS]
    eps_rel = p[P_EPS_REL]
    a_y = p[P_AY]
    a_dydt = p[P_ADYDT]
    h0 = hs
    dt = t1 - t0
    for i in range(dim):
        y0[i] = y[i]
    _rhs(code, y, k[0], p, refr, isic)
    while True:
        final = False
        if h0 > dt:
            h0 = dt
            final = True
        _rkf45_step(code, dim, y, h0, p, refr, isic, k, ytmp, yerr, dydt_out)
        t = t1 if final else t0 + h0
        h_old = h0
        rmax = 2.2250738585072014e-308   # DBL_MIN
        for i in range(dim):
            d0 = eps_rel * (a_y * abs(y[i]) + a_dydt * abs(h_old * dydt_out[i])) + eps_abs
            r = abs(yerr[i]) / abs(d0)
            if r > rmax:
                rmax = r
        if rmax > 1.1:
            r = 0.9 / rmax ** (1.0 / 5.0)
            if r < 0.2:
                r = 0.2
            h_new = r * h_old
            if abs(h_new) < abs(h_old) and t + h_new != t:
                for i in range(dim):
                    y[i] = y0[i]
                h0 = h_new
                continue
            return t, h_old
        elif rmax < 0.5:
            r = 0.9 / rmax ** (1.0 / 6.0)
            if r > 5.0:
                r = 5.0
            if r < 1.0:
                r = 1.0
            return t, r * h_old
        return t, h_old


@njit(cache=True, nogil=True)
def _rk4_step(code, dim, y, h, p, refr, isic, k, ytmp):
    _rhs(code, y, k[0], p, refr, isic)
    for i in range(dim):
        ytmp[i] = y[i] + 0.5 * h * k[0, i]
    _rhs(code, ytmp, k[1], p, refr, isic)
    for i in range(dim):
        ytmp[i] = y[i] + 0.5 * h * k[1, i]
    _rhs(code, ytmp, k[2], p, refr, isic)
    for i in range(dim):
        ytmp[i] = y[i] + h * k[2, i]
    _rhs(code, ytmp, k[3], p, refr, isic)
    for i in range(dim):
        y[i] += h / 6.0 * (k[0, i] + 2.0 * k[1, i] + 2.0 * k[2, i] + k[3, i])


# ---------------------------------------------------------------------------------------------
# the kernel

@njit(cache=True, nogil=True)
def astro_clock_run(step0, step1, dt, pop_start, pop_stop, std_kind, coef,
                    own_start, own_stop, own_code, own_pop, par,
                    v, ie, ii, ref_end, buf, X, hstep,
                    syn_ptr, syn_off, syn_w,
                    ts_ptr, ts_off, ts_w, ts_rule, ts_x, ts_y, ts_u, ts_last, rule,
                    sic_ptr, sic_post, sic_delay, sic_w, sic_proj, sic_buf, sic_events,
                    src_ptr, src_ids, spike_count, out_step, out_id, n_out,
                    rec_gid, rec_field, rec, scratch, work, act):
    """Advance steps [step0, step1) (see the module docstring). Returns the first step not
    simulated (step1, or earlier when the spike output is too full for another step). ``act``:
    the shared kernels' active-update counts (unused: the ledger counts arrivals itself, SIC
    input included)."""
    n_slots = buf.shape[0]
    n_total = v.shape[0]
    flat = buf.reshape(-1)
    slot_size = 2 * n_total
    n_sic_slots = sic_buf.shape[0]
    n_rec = rec_gid.shape[0]
    cap_scratch = scratch.shape[0]
    k = work[0:7]
    ytmp = work[7]
    yerr = work[8]
    dydt_out = work[9]
    y0 = work[10]
    y = work[11]
    for step in range(step0, step1):
        n_src = src_ptr[step + 1] - src_ptr[step]
        if n_out[0] + cap_scratch + n_src > out_step.shape[0]:
            return step
        slot = step % n_slots
        sslot = step % n_sic_slots
        be = buf[slot, 0]
        bi = buf[slot, 1]
        ns = update_neurons(step, slot, pop_start, pop_stop, std_kind, coef, v, ie, ii, ref_end, buf, scratch, act)
        for q in range(own_start.shape[0]):
            code = own_code[q]
            p = par[q]
            c = coef[own_pop[q]]
            rk4 = p[P_INTEG] > 0.5
            nsub = int(p[P_SUB])
            hsub = dt / nsub
            for j in range(own_start[q], own_stop[q]):
                if code == CODE_ASTRO:
                    for i in range(3):
                        y[i] = X[j, i]
                    if rk4:
                        for s in range(nsub):
                            _rk4_step(code, 3, y, hsub, p, False, 0.0, k, ytmp)
                    else:
                        t = 0.0
                        hs = hstep[j]
                        while t < dt:
                            t, hs = _evolve_apply(code, 3, y, t, dt, hs, p, False, 0.0, k, ytmp, yerr, dydt_out, y0)
                        hstep[j] = hs
                    ca = min(max(y[1], 0.0), p[A_CATOT])
                    X[j, 0] = y[0] + p[A_DIP3] * be[j]
                    X[j, 1] = ca
                    X[j, 2] = y[2]
                    thr = (ca - p[A_SICTH]) * 1000.0
                    sic = math.log(thr) * p[A_SICS] if thr > 1.0 else 0.0
                    X[j, 3] = sic
                    if sic != 0.0:
                        for a in range(sic_ptr[j], sic_ptr[j + 1]):
                            sic_buf[(step + sic_delay[a]) % n_sic_slots, sic_post[a]] += sic_w[a] * sic
                            sic_events[sic_proj[a]] += 1
                elif code == CODE_ADEX:
                    for i in range(6):
                        y[i] = X[j, i]
                    isic = X[j, 6]
                    if rk4:
                        for s in range(nsub):
                            _rk4_step(code, 6, y, hsub, p, X[j, 7] > 0.0, isic, k, ytmp)
                            if X[j, 7] > 0.0:
                                y[0] = p[E_VRESET]
                            elif y[0] >= p[E_VSPIKE]:
                                y[0] = p[E_VRESET]
                                y[5] += p[E_B]
                                X[j, 7] = p[E_REF] + 1.0 if p[E_REF] > 0.0 else 0.0
                                if ns < cap_scratch:
                                    scratch[ns] = j
                                    ns += 1
                    else:
                        t = 0.0
                        hs = hstep[j]
                        while t < dt:
                            t, hs = _evolve_apply(code, 6, y, t, dt, hs, p, X[j, 7] > 0.0, isic,
                                                  k, ytmp, yerr, dydt_out, y0)
                            if X[j, 7] > 0.0:
                                y[0] = p[E_VRESET]
                            elif y[0] >= p[E_VSPIKE]:
                                y[0] = p[E_VRESET]
                                y[5] += p[E_B]
                                X[j, 7] = p[E_REF] + 1.0 if p[E_REF] > 0.0 else 0.0
                                if ns < cap_scratch:
                                    scratch[ns] = j
                                    ns += 1
                        hstep[j] = hs
                    if X[j, 7] > 0.0:
                        X[j, 7] -= 1.0
                    y[1] += be[j] * p[E_G0E]
                    y[3] += bi[j] * p[E_G0I]
                    for i in range(6):
                        X[j, i] = y[i]
                    X[j, 6] = sic_buf[sslot, j]
                elif code == CODE_LEAKY:
                    a_new = p[L_DECAY] * X[j, 0] + be[j] - bi[j]
                    X[j, 0] = a_new
                    if a_new != 0.0:
                        for a in range(sic_ptr[j], sic_ptr[j + 1]):
                            sic_buf[(step + sic_delay[a]) % n_sic_slots, sic_post[a]] += sic_w[a] * a_new
                            sic_events[sic_proj[a]] += 1
                elif code == CODE_LIF_SIC:   # delta LIF with SIC: a current (mV per step) or a threshold shift
                    vo = v[j]
                    vrest = c[_C_V_REST]
                    m_in = X[j, 6]
                    if ref_end[j] < step:
                        vn = (vo - vrest) * c[_C_P22] + ((vrest + c[_C_DRIVE]) + be[j]) - bi[j]
                        th = c[_C_V_TH]
                        if p[M_THRESHOLD] > 0.5:
                            th += m_in
                        else:
                            vn += m_in
                        v[j] = vn
                        if vn >= th:
                            if c[_C_SOFT_RESET] > 0.5:
                                v[j] = vn - (c[_C_V_TH] - c[_C_V_RESET])
                            else:
                                v[j] = c[_C_V_RESET]
                            ref_end[j] = step + np.int64(c[_C_REF_STEPS])
                            if ns < cap_scratch:
                                scratch[ns] = j
                                ns += 1
                    X[j, 6] = sic_buf[sslot, j]
                else:   # CubaLIF (NEST order) with SIC input
                    vo = v[j]
                    e = ie[j]
                    i_ = ii[j]
                    vrest = c[_C_V_REST]
                    if ref_end[j] < step:
                        vn = (vrest + c[_C_DRIVE]) + (vo - vrest) * c[_C_P22] + c[_C_P21E] * e \
                            - c[_C_P21I] * i_ + p[C_KSIC] * X[j, 6]
                        v[j] = vn
                        if vn >= c[_C_V_TH]:
                            if c[_C_SOFT_RESET] > 0.5:
                                v[j] = vn - (c[_C_V_TH] - c[_C_V_RESET])
                            else:
                                v[j] = c[_C_V_RESET]
                            ref_end[j] = step + np.int64(c[_C_REF_STEPS])
                            if ns < cap_scratch:
                                scratch[ns] = j
                                ns += 1
                    ie[j] = e * c[_C_P11E] + be[j]
                    ii[j] = i_ * c[_C_P11I] + bi[j]
                    X[j, 6] = sic_buf[sslot, j]
        for j in range(n_total):
            sic_buf[sslot, j] = 0.0
        buf[slot] = 0.0
        for a in range(src_ptr[step], src_ptr[step + 1]):
            if ns < cap_scratch:
                scratch[ns] = src_ids[a]
                ns += 1
        m = n_out[0]
        base = slot * slot_size
        for s in range(ns):
            j = scratch[s]
            spike_count[j] += 1
            out_step[m] = step
            out_id[m] = j
            m += 1
            deliver(j, slot, syn_ptr, syn_off, syn_w, flat, slot_size)
            for a in range(ts_ptr[j], ts_ptr[j + 1]):
                r = rule[ts_rule[a]]
                h = (step - ts_last[a]) * dt
                puu = 0.0 if r[3] == 0.0 else math.exp(-h / r[3])
                pyy = math.exp(-h / r[1])
                pzz = math.exp(-h / r[2])
                pxy = ((pzz - 1.0) * r[2] - (pyy - 1.0) * r[1]) / (r[1] - r[2])
                x = ts_x[a]
                yy = ts_y[a]
                u = ts_u[a]
                z = 1.0 - x - yy
                u *= puu
                x += pxy * yy + (1.0 - pzz) * z
                yy *= pyy
                u += r[0] * (1.0 - u)
                d = u * x
                ts_x[a] = x - d
                ts_y[a] = yy + d
                ts_u[a] = u
                ts_last[a] = step
                wt = d * ts_w[a]
                if wt != 0.0:
                    f = base + ts_off[a]
                    if f >= flat.shape[0]:
                        f -= flat.shape[0]
                    flat[f] += wt
        n_out[0] = m
        for qq in range(n_rec):
            j = rec_gid[qq]
            fld = rec_field[qq]
            if fld == -1:
                rec[step, qq] = v[j]
            elif fld == -2:
                rec[step, qq] = ie[j]
            elif fld == -3:
                rec[step, qq] = ii[j]
            else:
                rec[step, qq] = X[j, fld]
    return step1


# ---------------------------------------------------------------------------------------------
# Python side

def _param_row(model, dt) -> np.ndarray:
    p = np.zeros(N_PAR)
    if isinstance(model, Astrocyte):
        for col, name in enumerate(("Ca_tot", "IP3_0", "Kd_IP3_1", "Kd_IP3_2", "Kd_act", "Kd_inh", "Km_SERCA",
                                    "SIC_scale", "SIC_th", "delta_IP3", "k_IP3R", "rate_IP3R", "rate_L",
                                    "rate_SERCA", "ratio_ER_cyt", "tau_IP3")):
            p[col] = getattr(model, name)
        # NEST: gsl_odeiv_control_y_new(1e-3, 0.0): absolute error 1e-3, a_y = 1, a_dydt = 0
        p[P_EPS_ABS], p[P_EPS_REL], p[P_AY], p[P_ADYDT] = 1e-3, 0.0, 1.0, 0.0
    elif isinstance(model, AdExAstro):
        m = model
        p[E_VPEAK], p[E_VRESET], p[E_REF] = m.V_peak, m.V_reset, m.refractory_steps(dt)
        p[E_GL], p[E_CM], p[E_EEX], p[E_EIN], p[E_EL] = m.g_L, m.C_m, m.E_ex, m.E_in, m.E_L
        p[E_DT], p[E_TAUW], p[E_A], p[E_B], p[E_VTH] = m.Delta_T, m.tau_w, m.a, m.b, m.V_th
        p[E_TSE], p[E_TSI], p[E_IE] = m.tau_syn_ex, m.tau_syn_in, m.I_e
        p[E_VSPIKE] = m.V_peak if m.Delta_T > 0 else m.V_th
        p[E_G0E], p[E_G0I] = math.e / m.tau_syn_ex, math.e / m.tau_syn_in
        # NEST: gsl_odeiv_control_yp_new(tol, tol): a_y = 0, a_dydt = 1
        p[P_EPS_ABS], p[P_EPS_REL], p[P_AY], p[P_ADYDT] = m.gsl_error_tol, m.gsl_error_tol, 0.0, 1.0
    elif isinstance(model, LeakyAstrocyte):
        p[L_DECAY] = model.decay(dt)
    elif isinstance(model, (ModulatedLIF, LIF)):
        p[M_THRESHOLD] = 1.0 if getattr(model, "modulation", "current") == "threshold" else 0.0
    else:   # CubaLIF with SIC: a current of 1 pA held over the step, in mV (model units nA)
        p[C_KSIC] = 1e-3 * integrated_decay(dt, model.tau_m) / model.c_m
    if hasattr(model, "integrator"):
        p[P_INTEG] = 1.0 if model.integrator == "rk4" else 0.0
        p[P_SUB] = model.substeps
    else:
        p[P_SUB] = 1
    return p


class AstroSetup:
    """The engine's network as this kernel needs it (built once per engine)."""

    def __init__(self, engine):
        net = engine.net
        N = engine.n_total
        pops = engine.pops
        astro_names = {p.name for p in pops if isinstance(p.model, _SIC_SOURCES)}
        sic_targets = {proj.post for proj in net.projections if proj.pre in astro_names}
        self.std_kind = engine.pop_kind.copy()
        own_start, own_stop, own_code, own_pop, par = [], [], [], [], []
        for k, p in enumerate(pops):
            if isinstance(p.model, Astrocyte):
                code = CODE_ASTRO
            elif isinstance(p.model, AdExAstro):
                code = CODE_ADEX
            elif isinstance(p.model, LeakyAstrocyte):
                code = CODE_LEAKY
            elif isinstance(p.model, ModulatedLIF) or (isinstance(p.model, LIF) and p.name in sic_targets):
                code = CODE_LIF_SIC
            elif p.name in sic_targets:
                code = CODE_CUBA_SIC
            else:
                continue
            self.std_kind[k] = -1
            own_start.append(engine.pop_start[k])
            own_stop.append(engine.pop_stop[k])
            own_code.append(code)
            own_pop.append(k)
            par.append(_param_row(p.model, engine.dt))
        self.own_start = np.array(own_start, dtype=np.int64)
        self.own_stop = np.array(own_stop, dtype=np.int64)
        self.own_code = np.array(own_code, dtype=np.int64)
        self.own_pop = np.array(own_pop, dtype=np.int64)
        self.par = np.array(par).reshape(-1, N_PAR)
        # synapses: static (neither Tsodyks nor SIC), Tsodyks, SIC
        kinds = np.zeros(len(net.projections), dtype=np.int64)   # 0 static, 1 tsodyks, 2 sic
        rules, rule_of = [], np.full(len(net.projections), -1, dtype=np.int64)
        for k, proj in enumerate(net.projections):
            if proj.pre in astro_names:
                kinds[k] = 2
            elif isinstance(proj.plasticity, TsodyksSynapse):
                kinds[k] = 1
                rule_of[k] = len(rules)
                rules.append(proj.plasticity)
        kind_of_syn = kinds[engine.syn_proj] if engine.syn_proj.size else np.zeros(0, np.int64)
        st = kind_of_syn == 0
        self.syn_off = engine.syn_off[st].astype(np.int64)
        self.syn_w = engine.syn_w[st]
        self.syn_ptr = _csr(engine.syn_pre[st], N)
        # Tsodyks synapses in projection order within each presynaptic unit (zero weights too)
        pre, off, w, rid, x0, y0, u0 = [], [], [], [], [], [], []
        sic_pre, sic_post, sic_d, sic_w, sic_proj = [], [], [], [], []
        for k, proj in enumerate(net.projections):
            gpre = proj.pre_idx.astype(np.int64) + engine.offset[proj.pre]
            gpost = proj.post_idx.astype(np.int64) + engine.offset[proj.post]
            d = proj.delay.astype(np.int64)
            if kinds[k] == 1:
                rec = 0 if proj.receptor == "excitatory" else 1
                r = proj.plasticity
                pre.append(gpre)
                off.append((d * 2 + rec) * N + gpost)
                w.append(proj.weight.astype(np.float64))
                rid.append(np.full(proj.size, rule_of[k], dtype=np.int64))
                x0.append(np.full(proj.size, r.x))
                y0.append(np.full(proj.size, r.y))
                u0.append(np.full(proj.size, r.u))
            elif kinds[k] == 2:
                sic_pre.append(gpre)
                sic_post.append(gpost)
                sic_d.append(d)
                sign = 1.0 if proj.receptor == "excitatory" else -1.0   # a signed SIC weight
                sic_w.append(sign * proj.weight.astype(np.float64))
                sic_proj.append(np.full(proj.size, k, dtype=np.int64))
        cat = (lambda xs, dt: np.concatenate(xs).astype(dt) if xs else np.zeros(0, dt))
        pre = cat(pre, np.int64)
        order = np.argsort(pre, kind="stable")
        self.ts_ptr = _csr(pre[order], N)
        self.ts_off = cat(off, np.int64)[order]
        self.ts_w = cat(w, np.float64)[order]
        self.ts_rule = cat(rid, np.int64)[order]
        self.ts_x0, self.ts_y0, self.ts_u0 = (cat(a, np.float64)[order] for a in (x0, y0, u0))
        self.ts_delay_max = int(max((int(net.projections[k].delay.max()) for k in range(len(kinds))
                                     if kinds[k] == 1 and net.projections[k].size), default=1))
        self.rule = np.array([[r.U, r.tau_psc, r.tau_rec, r.tau_fac] for r in rules]).reshape(-1, 4)
        sp = cat(sic_pre, np.int64)
        order = np.argsort(sp, kind="stable")
        self.sic_ptr = _csr(sp[order], N)
        self.sic_post = cat(sic_post, np.int64)[order]
        self.sic_delay = cat(sic_d, np.int64)[order]
        self.sic_w = cat(sic_w, np.float64)[order]
        self.sic_proj = cat(sic_proj, np.int64)[order]
        self.n_sic_slots = int(self.sic_delay.max()) + 1 if self.sic_delay.size else 1
        self.sic_proj_names = {k: net.projections[k].name for k in range(len(kinds)) if kinds[k] == 2}

    def initial_X(self, engine):
        X = np.zeros((engine.n_total, N_X))
        for k, p in enumerate(engine.pops):
            name = type(p.model).__name__
            if name in _STATE_FIELD:
                st = p.initial_state()
                a = engine.pop_start[k]
                for var, col in _STATE_FIELD[name].items():
                    X[a:a + p.size, col] = st[var]
        return X


def _csr(pre_sorted, n):
    ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(pre_sorted, minlength=n), out=ptr[1:])
    return ptr


def _shared_state(engine):
    """v, i_e, i_i of the populations of the shared kernels (astrocytes and AdEx have no v)."""
    v = np.zeros(engine.n_total)
    ie = np.zeros(engine.n_total)
    ii = np.zeros(engine.n_total)
    for k, p in enumerate(engine.pops):
        if p.is_source or isinstance(p.model, (Astrocyte, AdExAstro, LeakyAstrocyte)):
            continue
        a = engine.pop_start[k]
        st = p.initial_state()
        v[a:a + p.size] = st["v"]
        if "i_e" in st:
            ie[a:a + p.size] = st["i_e"]
            ii[a:a + p.size] = st["i_i"]
    return v, ie, ii


def run_clock_astro(engine, duration, rng=None, record=None, record_ids=None, progress=None) -> Recording:
    """Clock-mode run of an engine whose network needs this kernel (see the module docstring)."""
    from ._progress import CHUNK_WORK as _CHUNK_WORK, PROGRESS_WORK as _PROGRESS_WORK, progress_bar as _progress

    s = getattr(engine, "_astro_setup", None)
    if s is None:
        s = AstroSetup(engine)
        engine._astro_setup = s
    dt = engine.dt
    N = engine.n_total
    n_steps, src_i, src_ptr = engine._source_schedule(duration, rng)
    v, ie, ii = _shared_state(engine)
    X = s.initial_X(engine)
    hstep = np.full(N, dt)   # NEST: IntegrationStep_ starts at the resolution
    ref_end = new_refractory(N, n_steps, engine.coef)
    n_slots = max(engine.n_slots, s.ts_delay_max)
    buf = np.zeros((n_slots, 2, N))
    sic_buf = np.zeros((s.n_sic_slots, N))
    sic_events = np.zeros(max(1, len(engine.net.projections)), dtype=np.int64)
    rec_gids, layout = engine._record_ids(record, record_ids)
    # one recorded column per (gid, variable): expand
    gid_list, fld_list, where = [], [], {}
    for name, variables, ids_local, col0 in layout:
        model = engine.net.populations[name].model
        fields = _STATE_FIELD.get(type(model).__name__, _SHARED_FIELD)
        for var in variables:
            where[(name, var)] = sum(g.size for g in gid_list)   # first column of (pop, var) in rec
            gid_list.append(ids_local + engine.offset[name])
            fld_list.append(np.full(ids_local.size, fields[var], dtype=np.int64))
    rec_gid = np.concatenate(gid_list).astype(np.int64) if gid_list else np.zeros(0, np.int64)
    rec_field = np.concatenate(fld_list) if fld_list else np.zeros(0, np.int64)
    rec = np.zeros((n_steps if rec_gid.size else 0, rec_gid.size))
    spike_count = np.zeros(N, dtype=np.int64)
    scratch = np.empty(4 * N + 16 + int(np.diff(src_ptr).max(initial=0)), dtype=np.int64)
    cap = max(1 << 16, 2 * (scratch.size + src_i.size))
    out_step = np.empty(cap, dtype=np.int64)
    out_id = np.empty(cap, dtype=np.int64)
    n_out = np.zeros(1, dtype=np.int64)
    ts_x, ts_y, ts_u = s.ts_x0.copy(), s.ts_y0.copy(), s.ts_u0.copy()
    ts_last = np.full(s.ts_w.size, -1, dtype=np.int64)   # NEST's t_lastspike = 0 ms <-> step -1
    work = np.zeros((12, N_X))
    work_per_step = max(N, 1) * (10 if s.own_code.size else 1)
    chunk = n_steps if not (progress or (progress is None and n_steps * work_per_step > _PROGRESS_WORK)) \
        else max(1, _CHUNK_WORK // work_per_step)
    bar = _progress(n_steps, "simulating (astro)", unit="step") if chunk < n_steps else None
    step = 0
    act = np.zeros(engine.pop_kind.shape[0], dtype=np.int64)   # astro_clock_run's docstring
    while step < n_steps:
        stop = min(n_steps, step + chunk)
        reached = astro_clock_run(
            step, stop, dt, engine.pop_start, engine.pop_stop, s.std_kind, engine.coef,
            s.own_start, s.own_stop, s.own_code, s.own_pop, s.par,
            v, ie, ii, ref_end, buf, X, hstep,
            s.syn_ptr, s.syn_off, s.syn_w,
            s.ts_ptr, s.ts_off, s.ts_w, s.ts_rule, ts_x, ts_y, ts_u, ts_last, s.rule,
            s.sic_ptr, s.sic_post, s.sic_delay, s.sic_w, s.sic_proj, sic_buf, sic_events,
            src_ptr, src_i, spike_count, out_step, out_id, n_out,
            rec_gid, rec_field, rec, scratch, work, act)
        if reached < stop:
            out_step = np.concatenate([out_step, np.empty_like(out_step)])
            out_id = np.concatenate([out_id, np.empty_like(out_id)])
        if bar is not None:
            bar.update(reached - step)
        step = reached
    if bar is not None:
        bar.close()
    # recorded columns back into the engine's per-variable layout
    n_rec_all = rec_gids.size
    rec_states = {}
    for name, variables, ids_local, col0 in layout:
        for var in variables:
            arr = rec_states.setdefault(var, np.zeros((n_steps, n_rec_all)))
            c0 = where[(name, var)]
            arr[:, col0:col0 + ids_local.size] = rec[:, c0:c0 + ids_local.size]
    recording = engine._finish_clock(duration, n_steps, out_step, out_id, n_out, spike_count, rec_states, layout)
    for k, pname in s.sic_proj_names.items():
        recording.ledger.synaptic_events[pname] = int(sic_events[k])
    engine.final_tsodyks = {"x": ts_x, "y": ts_y, "u": ts_u}
    return recording
