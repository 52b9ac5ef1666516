"""The random command streams' engine: one :class:`Fuzz` per seed drives the core through
``CoreTB`` (sim/core_driver.py) and holds it to :class:`golden.core_model.CoreModel` after
every command or burst; its episodes (bursts, queue-full episodes, resets mid-command, the
directed refusals) and cover points. The cocotb tests are sim/tb_core_fuzz.py; what is
compared, and what an overlapped burst cannot be compared on, is docs/core-model.md.
"""

from __future__ import annotations

import collections
import copy
import os
import random

import numpy as np
from cocotb.triggers import ClockCycles, SimTimeoutError, with_timeout
from cocotb_coverage.coverage import CoverPoint, coverage_db
from cocotbext.axi import AxiStreamFrame

from exion.limits import QUEUE_DEPTH
from exion.regmap import CAUSES, FLAGS, OPCODES, encode, smem_half
from golden.core_checks import CHECKS, decode, first_failure
from golden.core_model import OPS, CoreModel
from sim.fuzz_commands import (BUFFERS_USED, FLAG_BINS, bin_flags, buffer_fields, buffer_goal,
                               buffer_label, buffers_of, coverage_goal, flag_bin, random_command)
from sim.tb_common import pack, pauses, unpack
from sim.core_driver import CoreTB

__all__ = ["Fuzz", "STRICT"]

#: Overlapped bursts (the default): any command may follow a GEMM in a burst;
#: EXION_FUZZ_STRICT=0 puts only loads and reads after it (docs/core-model.md).
STRICT = os.environ.get("EXION_FUZZ_STRICT", "1") != "0"
_GOAL = sorted(coverage_goal())
#: What the queue-full episodes issue as the refused command, in turn.
_QF_TURNS = [(op, bin_flags(op, fb)) for op, fb, cause in _GOAL if cause == "QUEUE_FULL"]
_CAUSE_NAMES = {v: k for k, v in CAUSES.items()}
#: Refused commands per queue-full episode (the error cleared between them): the turns come
#: round in a few episodes, so that the short seed set refuses every opcode and flag bin.
_QF_REFUSED = (2, 4)
#: Of the bursts, those aimed at a hole of the buffer cover point while it has one.
_STEER = 0.5
#: Aimed bursts after a seed's stream while the buffer cover point still has holes: an aimed
#: "behind" burst misses when its leading command ends before the aimed one is written.
_MOPUP = 48
#: The loads and the read that name one buffer of a memory (the command put ahead of an
#: aimed one, so that it is "behind").
_LOADER = {"imem": "LOAD_IMEM", "wmem": "LOAD_WMEM", "omem": "READ_OMEM"}
#: A settle that takes longer (simulated) is a hang: the longest command of FUZZ_CONFIG runs
#: a few hundred cycles, a queue of them with every stream paused half the time some 10 us.
_WATCHDOG_NS = int(os.environ.get("EXION_FUZZ_WATCHDOG_NS", "200000"))


@CoverPoint("core.op_flags_cause", xf=lambda op, fb, cause: (op, fb, cause), bins=_GOAL)
@CoverPoint("core.op", xf=lambda op, fb, cause: op, bins=sorted({g[0] for g in _GOAL}))
@CoverPoint("core.cause", xf=lambda op, fb, cause: cause, bins=sorted({g[2] for g in _GOAL}))
def _sample(op, fb, cause):
    pass


_BUFFER_SAMPLER = []


def _buffer_sampler(cfg):
    """The (opcode, memory, buffer, state) cover point: its bins depend on the configuration,
    so it is made once the bench knows it."""
    if not _BUFFER_SAMPLER:
        @CoverPoint("core.buffer_state", xf=lambda *b: tuple(b),
                    bins=sorted(buffer_goal(cfg)))
        def sample(op, mem, buf, state):
            pass
        _BUFFER_SAMPLER.append(sample)
    return _BUFFER_SAMPLER[0]


def _show(sig) -> str:
    try:
        v = sig.value
        return f"{sig._name}={v.to_unsigned() if v.is_resolvable else v}"
    except Exception:           # scopes, arrays: not one value
        return ""


def _dump(dut):
    """Log the engines' signals (a hang's post-mortem, EXION_FUZZ_DUMP=1): Icarus shows every
    signal; Verilator only the top's (sim/runner.py makes only those public)."""
    for path in ("exec", "exec.seq", "exec.sdue", "predict", "schedule", "dispatch", "read"):
        try:
            h = dut
            for p in path.split("."):
                h = getattr(h, p)
            vals = [v for v in map(_show, h) if v]
        except AttributeError as e:
            dut._log.info("%s: not visible (%s)", path, e)
            continue
        dut._log.info("%s: %s", path, " ".join(sorted(vals)))


def _memories(st) -> dict:
    """Copies of a model state's memories: what a reset mid-command is checked against."""
    return {"imem": st.imem.copy(), "wmem": st.wmem.copy(), "omem": st.omem.copy(),
            "mask": st.mask.copy()}


def _counts(model) -> tuple[int, int, int]:
    """``BLOCKS``, ``BLOCKS_H1``, ``BLOCKS_H2`` of the model (legal sparse GEMMs of each half)."""
    return (model.regs.blocks, *model.regs.blocks_half)


def _may_fault(word: int) -> bool:
    """A command that may fault at run time, which ends a burst: ``SCHEDULE`` (SMEM
    overflow), a sparse ``GEMM`` but a resident one (its dispatch check; a resident window's
    range is checked at issue)."""
    op = word & 0xFF
    return op == OPCODES["SCHEDULE"] or (op == OPCODES["GEMM"] and bool(word & FLAGS["SPARSE"])
                                         and not word & FLAGS["RESIDENT"])


class Fuzz:
    """One simulation: the driver, the model, the counters."""

    def __init__(self, tb: CoreTB, seed: int):
        self.tb, self.cfg = tb, tb.cfg
        self.model = CoreModel(tb.cfg)
        self.rng = np.random.default_rng(seed)
        self.seed = seed
        self.commands = 0
        self.checked = 0
        self.episodes = int(seed)      # queue-full episodes (a different first turn per seed)
        self.bursts = 0
        self.history = collections.deque(maxlen=12)     # labels of the last commands
        self.resets = 0
        self.steers = 0         # bursts aimed at a buffer cover-point hole
        self.sample_buffers = _buffer_sampler(tb.cfg)

    def pauses(self, seed: int):
        prng = random.Random(seed)
        tb = self.tb
        chans = [tb.axil.write_if.aw_channel, tb.axil.write_if.w_channel,
                 tb.axil.write_if.b_channel, tb.axil.read_if.ar_channel,
                 tb.axil.read_if.r_channel, tb.src_i, tb.src_w, tb.sink]
        for ch in chans:
            ch.set_pause_generator(pauses(prng, prng.choice([0.0, 0.2, 0.5])))

    # -- one command ------------------------------------------------------------------------
    async def command(self, args, word, *, queue_full: bool = False, send: bool = True):
        """Issue on both; send stream data for an accepted load; return the accepted Command
        (None if refused or dropped) and the refusal cause."""
        model, tb = self.model, self.tb
        before = len(model.state.queue)
        ahead = set().union(*(buffers_of(c) for c in model.state.queue))
        was_error = model.regs.error
        cause = model.issue(args, word, queue_full=queue_full)
        await tb.issue_raw(args, word, wait_room=False)
        self.commands += 1
        cmd = decode([args[f"ARG{i}"] for i in range(6)], word)
        accepted = len(model.state.queue) > before
        if not was_error and cause:         # accepted ones are sampled when they have run
            _sample(cmd.op or "?", flag_bin(cmd.op, word), _CAUSE_NAMES[cause])
        if accepted:
            for label, mem, buf in buffer_fields(cmd):
                self.sample_buffers(cmd.op, label, buf,
                                    "behind" if (mem, buf) in ahead else "free")
        if accepted and send and OPS[cmd.op].stream is not None:
            await self.send(cmd)
        return (cmd if accepted else None), cause

    async def send(self, cmd):
        op = OPS[cmd.op]
        n = op.beats(self.model, cmd)
        hi = self.cfg.data_max
        beats = self.rng.integers(-hi - 1, hi + 1, size=(n, self.cfg.lanes))
        (self.model.push_imem if op.stream == "imem" else self.model.push_wmem)(beats)
        src = self.tb.src_i if op.stream == "imem" else self.tb.src_w
        await src.send(AxiStreamFrame([pack(b, self.cfg.data_width) for b in beats]))

    async def settle(self, label: str):
        """:meth:`compare` under a watchdog: a core that never finishes fails with the
        commands that led there instead of hanging the run."""
        try:
            await with_timeout(self.compare(label), _WATCHDOG_NS, "ns")
        except SimTimeoutError:
            if os.environ.get("EXION_FUZZ_DUMP"):
                _dump(self.tb.dut)
            s = await self.tb.status()
            raise AssertionError(
                f"{label}: not finished after {_WATCHDOG_NS} ns (STATUS {s}, DONE "
                f"{await self.tb.read('DONE')}, model DONE {self.model.regs.done}); earlier "
                "commands:\n" + "\n".join(self.history)) from None

    async def compare(self, label: str):
        """Run the model, take READ frames from both, wait idle, compare everything."""
        tb, model = self.tb, self.model
        outcomes = model.run()
        for o in outcomes:
            _sample(o.cmd.op, flag_bin(o.cmd.op, o.cmd.word), o.fault or "NONE")
            if o.frame is not None:
                frame = await tb.sink.recv()
                got = np.array([unpack(int(v), self.cfg.data_width, self.cfg.rows)
                                for v in frame.tdata], np.int64)
                assert got.shape == o.frame.shape, f"{label}: {got.shape} beats, model {o.frame.shape}"
                bad = np.argwhere(got != o.frame)
                assert not len(bad), (
                    f"{label}: READ_OMEM frame differs in {len(bad)} outputs, first (beat, "
                    f"bank) {[tuple(map(int, b)) for b in bad[:6]]}: got "
                    f"{[int(got[tuple(b)]) for b in bad[:6]]}, model "
                    f"{[int(o.frame[tuple(b)]) for b in bad[:6]]}; earlier commands:\n"
                    + "\n".join(self.history))
        model.state.out.clear()
        await tb.wait_idle()
        await self.compare_status(label)
        regs = model.regs.as_dict()
        for name in ("CAUSE", "ERR_CMD", "DONE", "CYCLES", "BLOCKS", "BLOCKS_H1", "BLOCKS_H2",
                     "SCHED_CYCLES", "DOMINANT_LO",
                     "DOMINANT_HI", "SKIP_K_LO", "SKIP_K_HI", "SKIP_V_LO", "SKIP_V_HI"):
            got = await tb.read(name)
            assert got == regs[name], (f"{label}: {name} = {got:#x}, model {regs[name]:#x}"
                                       f"{self.context(outcomes)}")
        # the mask channels a command wrote (FFN_MASK GEMM, PREDICT) or read (SCHEDULE)
        touched = [o.cmd.ch_base + o.cmd.n_ch for o in outcomes
                   if o.ran and o.cmd.op == "GEMM" and o.cmd.ffn]
        touched += [o.cmd.n_ch for o in outcomes if o.ran and o.cmd.op in ("PREDICT", "SCHEDULE")]
        if touched:
            await self.compare_mask(max(touched), label)
        # the vectors each SCHEDULE wrote (whole SMEM or one half; an SMEM word past them may
        # still hold what a SCHEDULE cut short by a reset left there)
        for half in sorted({o.cmd.half for o in outcomes if o.ran and o.cmd.op == "SCHEDULE"}):
            first, _ = smem_half(self.cfg.schedule_depth, half)
            n = model.regs.blocks_of(half)
            words = await tb.read_smem(first + n)
            assert words[first:] == model.state.smem[first:first + n], \
                f"{label}: SMEM (half {half}) differs"
        self.checked += 1
        self.history.append(label)

    def context(self, outcomes) -> str:
        """What a failure message needs besides the command: the mask a SCHEDULE read."""
        sched = [o.cmd.n_ch for o in outcomes if o.cmd.op == "SCHEDULE"]
        if not sched:
            return ""
        st = self.model.state
        return f"; mask cvs {[st.mask_cv(ch) for ch in range(max(sched))]}"

    async def compare_status(self, label: str):
        """Every STATUS bit and the queue level against the model's."""
        got, want = await self.tb.status(), self.model.state.status()
        assert got == want, f"{label}: STATUS {got}, model {want}"

    async def compare_mask(self, n: int, label: str):
        got = await self.tb.read_mask(n)
        exp = self.model.state.mask[:n].T
        bad = [ch for ch in range(n) if not np.array_equal(got[:, ch], exp[:, ch])]
        cv = lambda m, ch: sum(1 << r for r in np.flatnonzero(m[:, ch]))  # noqa: E731
        assert not bad, (f"{label}: mask channels {bad[:8]} differ: got "
                         f"{[cv(got, ch) for ch in bad[:8]]}, model "
                         f"{[cv(exp, ch) for ch in bad[:8]]}; earlier commands:\n"
                         + "\n".join(self.history))

    # -- episodes -----------------------------------------------------------------------------
    async def reset_mid_command(self, label: str):
        """Up to QUEUE_DEPTH legal commands, then ``rst`` 0..150 cycles later, in the middle
        of whichever is running. Registers, STATUS, queue and engines must come back as the
        model's reset gives them. The memories keep their contents; where a command was cut
        short each word holds what the model had there after some prefix of the commands.
        Which memories the commands change the model says (snapshots after each prefix):
        those OMEM buffers and mask channels are read back and each word checked to be one
        of the snapshots' (then the model takes the RTL's); the IMEM / WMEM words (not
        readable by the host) are loaded again on both sides."""
        tb, model, rng, cfg = self.tb, self.model, self.rng, self.cfg
        if model.regs.error:
            await tb.write("CTRL", 1)
            model.clear_error()
        for _ in range(int(rng.integers(1, QUEUE_DEPTH + 1))):
            args, word = random_command(rng, cfg, blocks=_counts(model), p_bad=0.0)
            await self.command(args, word)
        m = copy.deepcopy(model)
        pending = list(m.state.queue)
        m.state.queue.clear()
        snaps = [_memories(m.state)]
        for c in pending:
            m.state.queue.append(c)
            m.run()
            snaps.append(_memories(m.state))
        await ClockCycles(tb.dut.clk, int(rng.integers(0, 151)))
        tb.dut.rst.value = 1
        await ClockCycles(tb.dut.clk, 3)
        tb.dut.rst.value = 0
        for q in (tb.src_i, tb.src_w, tb.sink):
            q.clear()
        await ClockCycles(tb.dut.clk, 2)
        tb.args = {}
        model.reset()
        self.resets += 1
        await self.settle(label + ": registers after the reset")
        # (buffer, word) of IMEM / WMEM and OMEM buffers, mask channels some prefix changed
        diff = {k: np.any([sn[k] != snaps[0][k] for sn in snaps[1:]], axis=0)
                if len(snaps) > 1 else np.zeros_like(snaps[0][k], bool) for k in snaps[0]}
        for obuf in np.flatnonzero(diff["omem"].any(axis=(1, 2))):
            n = cfg.words("omem")
            await self.command(*encode("READ_OMEM", base=0, count=n, buf=int(obuf)))
            model.run()
            model.state.out.clear()
            frame = await tb.sink.recv()
            got = np.array([unpack(int(v), cfg.data_width, cfg.rows) for v in frame.tdata],
                           np.int64).T
            bad = np.argwhere(~np.any([got == sn["omem"][obuf] for sn in snaps], axis=0))
            assert not len(bad), (f"{label}: OMEM buffer {obuf} (bank, word) "
                                  f"{[tuple(map(int, b)) for b in bad[:4]]} hold a value the "
                                  f"model never had there")
            model.state.omem[obuf] = got
            await self.settle(f"{label}: OMEM buffer {obuf} read back")
        if diff["mask"].any():
            n = model.state.map.channels
            got = await tb.read_mask(n)
            bad = [ch for ch in range(n) if not any(np.array_equal(got[:, ch], sn["mask"][ch])
                                                    for sn in snaps)]
            assert not bad, f"{label}: mask channels {bad[:6]} hold a value the model never had"
            model.state.mask[:n] = got.T
        for op, mem in (("LOAD_IMEM", "imem"), ("LOAD_WMEM", "wmem")):
            words = diff[mem].any(axis=tuple(range(3, diff[mem].ndim)) + (1,))  # (buf, word)
            for buf in np.flatnonzero(words.any(axis=1)):
                lo, hi = np.flatnonzero(words[buf])[[0, -1]]
                args, word = encode(op, base=int(lo), count=int(hi - lo + 1), buf=int(buf))
                await self.command(args, word)
                await self.settle(f"{label}: {op} of words {lo}..{hi} again")

    async def mask_write(self):
        n = int(self.rng.integers(1, self.model.state.map.channels + 1))
        density = float(self.rng.choice([0.0, 0.1, 0.5, 0.9, 1.0]))
        mask = self.rng.random((self.cfg.rows, n)) < density
        await self.tb.write_mask(mask)
        for ch in range(n):
            self.model.state.write_mask_cv(ch, sum(1 << r for r in np.flatnonzero(mask[:, ch])))

    async def queue_full(self, label: str):
        """A load engine waits for its data, QUEUE_DEPTH more loads queue behind it, then a
        few more random commands written while the queue is full: each refused with
        QUEUE_FULL unless a check fails first."""
        cfg, rng = self.cfg, self.rng
        loads = []
        for _ in range(QUEUE_DEPTH + 1):
            args, word = encode("LOAD_IMEM", base=0, count=int(rng.integers(1, 3)),
                                buf=int(rng.integers(cfg.imem_buffers)))
            cmd, _ = await self.command(args, word, send=False)
            loads.append(cmd)
        assert (await self.tb.status())["queue_full"], f"{label}: queue not full"
        # the refused commands: legal (so QUEUE_FULL is their cause), opcode and GEMM flags in
        # turn over the episodes, the error cleared before each but the first
        for t in range(int(rng.integers(_QF_REFUSED[0], _QF_REFUSED[1] + 1))):
            if t:
                await self.tb.write("CTRL", 1)
                self.model.clear_error()
            op, flags = _QF_TURNS[self.episodes % len(_QF_TURNS)]
            self.episodes += 1
            args, word = random_command(rng, cfg, blocks=_counts(self.model), p_bad=0.0,
                                        op=op, flags=flags)
            await self.command(args, word, queue_full=True)
        self.model.run()            # nothing runs: the first load waits for its data
        await self.compare_status(label + ", before the data")
        for cmd in loads:
            await self.send(cmd)
        await self.settle(label)

    async def refusals(self):
        """Directed part of a seed: for every (opcode, flags, cause) bin of a check at issue,
        draw commands of that opcode and flags (one field pushed to an edge) until the check
        table says it fails with that cause, then issue it: every refusal the short seed set
        would otherwise reach only by luck; then a SCHEDULE of a full mask, without and with
        RESIDENT (SMEM_OVERFLOW where SMEM holds fewer vectors than the mask needs)."""
        rng, model = self.rng, self.model
        for op, fb, cause in _GOAL:
            if op not in CHECKS or cause in ("NONE", "QUEUE_FULL"):
                continue
            flags = bin_flags(op, fb)
            for _ in range(400):
                args, word = random_command(rng, self.cfg, blocks=_counts(model),
                                            p_bad=1.0, op=op, flags=flags)
                cmd = decode([args[f"ARG{i}"] for i in range(6)], word)
                if cmd.op == op and flag_bin(op, word) == fb and \
                        first_failure(cmd, model.limits) == cause:
                    break
            else:
                continue            # not drawn: stays a hole unless the random part hits it
            if model.regs.error:
                await self.tb.write("CTRL", 1)
                model.clear_error()
            await self.command(args, word)
            await self.settle(f"seed {self.seed} directed {op} {fb} {cause}")
        # SMEM_OVERFLOW: a full mask of every channel (FUZZ_CONFIG: 16 vectors, SMEM of 8)
        n = model.state.map.channels
        await self.tb.write_mask(np.ones((self.cfg.rows, n), bool))
        for ch in range(n):
            model.state.write_mask_cv(ch, (1 << self.cfg.rows) - 1)
        for fb in FLAG_BINS["SCHEDULE"]:       # the greedy rule and the resident one
            if model.regs.error:
                await self.tb.write("CTRL", 1)
                model.clear_error()
            await self.command(*encode("SCHEDULE", n_ch=n, flags=bin_flags("SCHEDULE", fb)))
            await self.settle(f"seed {self.seed} directed SCHEDULE ({fb}) of a full mask")

    # -- bursts aimed at the buffer cover point's holes ---------------------------------------
    def aimed(self, op: str, label: str, buf: int, *, lead: bool = False):
        """A legal command of ``op`` that names buffer ``buf`` in the field of cover-point
        label ``label`` (``(args, word)``), or None when a few draws give none. ``lead``: it
        goes ahead of another in a burst, so not one that ends a burst (:func:`_may_fault`)."""
        mem, _, fld = label.partition(".")
        fld = fld or {"imem": "ibuf", "wmem": "wbuf", "omem": "obuf"}[mem]
        key = "buf" if op in _LOADER.values() else fld
        for _ in range(40):
            args, word = random_command(self.rng, self.cfg, blocks=_counts(self.model),
                                        p_bad=0.0, op=op, fix={key: buf})
            cmd = decode([args[f"ARG{i}"] for i in range(6)], word)
            ends = _may_fault(word)
            if cmd.op == op and (label, mem, buf) in buffer_fields(cmd) and \
                    not (lead and ends) and first_failure(cmd, self.model.limits) is None:
                return args, word
        return None

    async def steered(self, label: str) -> bool:
        """A burst aimed at a hole of the (opcode, memory, buffer, state) cover point: for a
        "behind" bin first a legal command that uses the buffer (a load or read of it, or
        any opcode that names it), then a legal command of the hole's opcode naming it in the
        hole's field. False (nothing issued) when the cover point has no hole."""
        rng, model = self.rng, self.model
        holes = [b for b, hits in coverage_db["core.buffer_state"].detailed_coverage.items()
                 if hits == 0]
        if not holes:
            return False
        op, lab, buf, state = holes[int(rng.integers(len(holes)))]
        mem = lab.partition(".")[0]
        cmds = []
        if state == "behind":
            # (EXION_FUZZ_STRICT=0: only loads and reads after a GEMM, so no GEMM first)
            users = [o for o, used in BUFFERS_USED.items() if o != "SCHEDULE"
                     and (STRICT or o != "GEMM") and any(m == mem for m, _ in used)]
            first = _LOADER[mem] if rng.random() < 0.5 else users[int(rng.integers(len(users)))]
            fld = next(f for m, f in BUFFERS_USED[first] if m == mem)
            cmds.append(self.aimed(first, buffer_label(mem, fld), buf, lead=True))
        cmds.append(self.aimed(op, lab, buf))
        if None in cmds:
            return False
        if model.regs.error:
            await self.tb.write("CTRL", 1)
            model.clear_error()
        words = []
        for args, word in cmds:
            words.append(f"word {word:#x} args " + ",".join(f"{args[f'ARG{j}']:#x}"
                                                            for j in range(6)))
            await self.command(args, word)
            if _may_fault(word):
                break           # (as in a random burst: a run-time fault ends it)
        self.bursts += len(words) > 1
        self.steers += 1
        await self.settle(f"{label} (aimed at {op} {lab} {buf} {state}): " + "; ".join(words))
        return True

    async def run_seed(self, n: int):
        rng, tb, model = self.rng, self.tb, self.model
        await self.refusals()
        for i in range(n):
            label = f"seed {self.seed} command {i}"
            if model.regs.error and rng.random() < 0.85:
                await tb.write("CTRL", 1)
                model.clear_error()
            what = rng.random()
            if what < 0.06:
                await self.mask_write()
                continue
            if what < 0.11 and not model.regs.error:
                await self.queue_full(label + " (queue full)")
                continue
            if what < 0.14:
                await self.reset_mid_command(label + " (reset)")
                continue
            if what < 0.3 and rng.random() < _STEER and await self.steered(label):
                continue
            # a burst: up to QUEUE_DEPTH commands back to back (the queue cannot fill), the
            # engines overlap; compared once all have finished
            n_cmds = int(rng.integers(2, QUEUE_DEPTH + 1)) if what < 0.3 else 1
            words = []
            after_gemm = False
            for _ in range(n_cmds):
                op = None
                if after_gemm and not STRICT:      # EXION_FUZZ_STRICT=0
                    op = ("LOAD_IMEM", "LOAD_WMEM", "READ_OMEM")[int(rng.integers(3))]
                args, word = random_command(rng, self.cfg, blocks=_counts(model),
                                            p_bad=0.35 if n_cmds == 1 else 0.1, op=op)
                after_gemm |= (word & 0xFF) == OPCODES["GEMM"]
                words.append(f"word {word:#x} args "
                             + ",".join(f"{args[f'ARG{j}']:#x}" for j in range(6)))
                await self.command(args, word)
                # A run-time fault (SCHEDULE: SMEM_OVERFLOW; sparse GEMM, not RESIDENT: its
                # dispatch check) refuses the commands written after it happened: which ones
                # is a matter of time, which the model does not have. Such a command ends the
                # burst.
                if _may_fault(word):
                    break
            self.bursts += len(words) > 1
            await self.settle(label + ": " + "; ".join(words))
        for i in range(_MOPUP):
            if model.regs.error:
                await tb.write("CTRL", 1)
                model.clear_error()
            if not any(h == 0 for h in
                       coverage_db["core.buffer_state"].detailed_coverage.values()):
                break
            await self.steered(f"seed {self.seed} mop-up {i}")
        # every OMEM buffer, whole
        if model.regs.error:
            await tb.write("CTRL", 1)
            model.clear_error()
        for buf in range(self.cfg.omem_buffers):
            args, word = encode("READ_OMEM", base=0, count=self.cfg.words("omem"), buf=buf)
            await self.command(args, word)
            await self.settle(f"seed {self.seed}: final OMEM buffer {buf}")
