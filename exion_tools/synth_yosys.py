"""Running Yosys: the ASIC and ECP5 scripts and one Yosys process per job.

Part of ``exion synth``. Yosys' exit status is not trusted: a run counts only if its log
reached ``End of script`` and its ``stat -json`` parses.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from exion.config import ConfigError

from .synth_model import SynthError, bare
from .synth_parse import load_stat, parse_ecp5_memories, parse_memories

__all__ = ["yosys_bin", "yosys_version", "yosys_script", "YosysJob", "run_job"]


# -- Yosys --------------------------------------------------------------------------------

def yosys_bin() -> str:
    exe = os.environ.get("EXION_YOSYS", "yosys")
    path = shutil.which(exe)
    if path is None:
        raise ConfigError(f"yosys not found ({exe!r} is not on PATH); `make tools` installs "
                          "Debian's yosys")
    return path


def yosys_version() -> str:
    r = subprocess.run([yosys_bin(), "-V"], capture_output=True, text=True)
    return r.stdout.strip()


#: The ASIC flow: ``synth`` up to its ``fine`` label (coarse synthesis ending in
#: ``memory -nomap``), then ``synth``'s own ``fine`` steps except ``memory_map``. Unused
#: named wires are purged once after ``proc``: Amaranth keeps every named signal, and the
#: ``opt_clean`` runs of a module with 256 DPU port bundles spend half their time on them
#: (same logic, half the CPU time).
_ASIC_SCRIPT = """\
{reads}
synth -top {top} -run :coarse
proc
opt_clean -purge
synth -top {top} {flatten}-run coarse:fine
opt -fast -full
opt -full
techmap
opt -fast
tee -q -o prestat.json stat -json
abc -fast
opt -fast
{memdump}
tee -q -o stat.json stat -json
"""

#: The ECP5 flow: ``synth_ecp5`` with the same purge after ``proc`` and without its final
#: ``autoname`` (cosmetic, 10 s on the SDUE). Block and distributed RAM cells keep the
#: memory's name (``<memory>.<i>.<j>``) and are listed so that they can be put into units.
_ECP5_SCRIPT = """\
{reads}
synth_ecp5 -top {top} -run :coarse
proc
opt_clean -purge
synth_ecp5 -top {top} -run coarse:check
hierarchy -check
tee -q -o stat.json stat -json
tee -q -o mem.txt select -list t:DP16KD t:PDPW16KD t:TRELLIS_DPR16X4
"""


def yosys_script(flow: str, top: str, has_lib: bool, flatten: bool = False,
            dump_modules=()) -> str:
    reads = ("read_verilog -lib lib.v\n" if has_lib else "") + "read_verilog design.v"
    if flow == "asic":
        # Memory parameters (width, depth, ports) come from an RTLIL dump of the $mem_v2
        # cells; with several modules, one dump per module behind a marker line.
        if dump_modules:
            memdump = "\n".join(f'tee -q -a mem.txt log "@@module {m}"\n'
                                f"tee -q -a mem.txt dump {m}/t:$mem_v2" for m in dump_modules)
        else:
            memdump = "tee -q -o mem.txt dump t:$mem_v2"
        return _ASIC_SCRIPT.format(reads=reads, top=top, flatten="-flatten " if flatten else "",
                                   memdump=memdump)
    if flow == "ecp5":
        return _ECP5_SCRIPT.format(reads=reads, top=top)
    raise ValueError(f"flow = {flow!r} is not one of asic, ecp5")


@dataclass
class YosysJob:
    flow: str
    top: str            # module name as spelled in Verilog
    design: str         # Verilog read normally
    lib: str            # Verilog read as black boxes
    flatten: bool = False
    dump_modules: tuple = ()

    @property
    def key(self) -> str:
        h = hashlib.sha256()
        for part in (self.flow, self.top, str(self.flatten), repr(self.dump_modules),
                     self.design, "\0", self.lib):
            h.update(part.encode())
        return h.hexdigest()


def run_job(job: YosysJob, yosys: str, workroot: Path, fail_dir: Path | None) -> dict:
    """Run one Yosys process. Returns ``stat`` (``stat -json``), ``prestat`` (ASIC: before
    ABC), ``memories`` (ASIC: list of dicts; ECP5: RAM cells per memory name), ``seconds``."""
    d = Path(tempfile.mkdtemp(dir=workroot, prefix=job.flow + "."))
    (d / "design.v").write_text(job.design)
    if job.lib:
        (d / "lib.v").write_text(job.lib)
    (d / "script.ys").write_text(yosys_script(job.flow, job.top, bool(job.lib), job.flatten,
                                         job.dump_modules))
    t0 = time.perf_counter()
    with open(d / "stdout.txt", "w") as so, open(d / "stderr.txt", "w") as se:
        proc = subprocess.Popen([yosys, "-q", "-l", "yosys.log", "-s", "script.ys"], cwd=d,
                                stdout=so, stderr=se, stdin=subprocess.DEVNULL)
        try:
            # wait4: the CPU time of Yosys and the ABC processes it waited for.
            _pid, status, usage = os.wait4(proc.pid, 0)
        except BaseException:
            proc.kill()
            proc.wait()
            raise
    proc.returncode = os.waitstatus_to_exitcode(status)
    dt = time.perf_counter() - t0
    cpu = usage.ru_utime + usage.ru_stime
    r = subprocess.CompletedProcess(proc.args, proc.returncode,
                                    (d / "stdout.txt").read_text(errors="replace"),
                                    (d / "stderr.txt").read_text(errors="replace"))
    log = (d / "yosys.log").read_text(errors="replace") if (d / "yosys.log").exists() else ""
    stat = None
    if "End of script." in log and (d / "stat.json").exists():
        try:
            stat = load_stat((d / "stat.json").read_text())
        except ValueError:
            stat = None
    if stat is None:
        where = ""
        if fail_dir is not None:
            fail_dir.mkdir(parents=True, exist_ok=True)
            safe = re.sub(r"[^A-Za-z0-9_.-]", "_", bare(job.top))
            keep = fail_dir / f"synth_failed_{job.flow}_{safe}.log"
            keep.write_text(log + "\n--- stderr ---\n" + r.stderr)
            where = f"; log: {keep}"
        last = (r.stderr.strip().splitlines() or log.strip().splitlines() or ["(no output)"])[-1]
        shutil.rmtree(d, ignore_errors=True)
        raise SynthError(f"yosys {job.flow} synthesis of {bare(job.top)} did not reach "
                         f"'End of script' (exit status {r.returncode}): {last}{where}")
    out = {"stat": stat, "seconds": dt, "cpu_seconds": cpu}
    mem_txt = (d / "mem.txt").read_text() if (d / "mem.txt").exists() else ""
    if job.flow == "asic":
        out["memories"] = parse_memories(mem_txt)
        out["prestat"] = load_stat((d / "prestat.json").read_text())
    else:
        out["memories"] = dict(parse_ecp5_memories(mem_txt))
    shutil.rmtree(d, ignore_errors=True)
    return out

