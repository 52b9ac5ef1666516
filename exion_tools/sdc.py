"""Timing constraints (SDC) for a generated top, from :class:`~exion.config.ExionConfig`.

* one clock on port ``clk``, period ``1000 / clock_mhz`` ns (800 MHz -> 1.250 ns);
* every other input and every output gets an I/O delay of a fixed fraction of the period
  (:data:`INPUT_DELAY_FRACTION`, :data:`OUTPUT_DELAY_FRACTION`): the time the logic outside
  the top (a host bus, the core around the SDUE) spends before / after the port;
* the reset ``rst`` is synchronous and held for many cycles, so it is a false path (no input
  delay, not timed).

Port names come either from the top's Verilog (:func:`ports_from_verilog`, what
``exion synth`` uses, since it has the text anyway) or from the top's Amaranth signature plus
the ``clk`` / ``rst`` ports Amaranth adds for the ``sync`` domain (:func:`ports_from_signature`,
what ``exion sdc`` uses: no elaboration, instant). ``tests/test_sdc.py`` holds the two equal.
See ``constraints/README.md``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from exion.config import ExionConfig, preset

__all__ = ["Port", "INPUT_DELAY_FRACTION", "OUTPUT_DELAY_FRACTION", "CLOCK_PORT", "RESET_PORT",
           "period_ns", "ports_from_verilog", "ports_from_signature", "sdc_text"]

#: Fraction of the clock period the driving logic outside the top uses before an input port.
INPUT_DELAY_FRACTION = 0.2
#: Fraction of the clock period the receiving logic outside the top needs after an output port.
OUTPUT_DELAY_FRACTION = 0.2
#: Amaranth's port names for the ``sync`` domain.
CLOCK_PORT = "clk"
RESET_PORT = "rst"
#: Generator tops without a ``sync`` domain (no ``clk`` / ``rst`` ports); the signature
#: cannot tell, ``tests/test_sdc.py`` checks this list against the Verilog of every top.
COMBINATIONAL_TOPS = ("lod",)


@dataclass(frozen=True)
class Port:
    name: str
    direction: str   # "input" or "output"
    width: int


def period_ns(cfg: ExionConfig) -> float:
    """Clock period in ns for ``cfg.clock_mhz``."""
    return 1000.0 / cfg.clock_mhz


_DECL = re.compile(r"^\s*(input|output|inout)\s+(?:wire\s+|reg\s+)?(?:signed\s+)?"
                   r"(?:\[(-?\d+):(-?\d+)\]\s*)?(\\\S+|[A-Za-z_][A-Za-z0-9_$]*)\s*;")


def ports_from_verilog(text: str, module: str) -> list[Port]:
    """The ports of ``module`` in ``text`` (Verilog as Amaranth writes it: a port list in the
    header, then one ``input`` / ``output`` declaration per port), in header order."""
    head = re.search(r"^module\s+" + re.escape(module) + r"\s*\(([^;]*)\)\s*;", text, re.M)
    if head is None:
        raise ValueError(f"module {module!r} not found in the Verilog")
    order = [p.strip() for p in head.group(1).split(",") if p.strip()]
    body = text[head.end():text.index("endmodule", head.end())]
    decls = {}
    for line in body.splitlines():
        m = _DECL.match(line)
        if m:
            hi, lo = m.group(2), m.group(3)
            # Amaranth writes a zero-width port as [-1:0].
            width = int(hi) - int(lo) + 1 if hi is not None else 1
            decls[m.group(4)] = Port(m.group(4), m.group(1), width)
    missing = [p for p in order if p not in decls]
    if missing:
        raise ValueError(f"module {module!r}: no declaration for port(s) {', '.join(missing)}")
    return [decls[p] for p in order]


def ports_from_signature(cfg: ExionConfig, top: str) -> list[Port]:
    """The ports of generated top ``top`` from its Amaranth signature (names joined with
    ``__`` as Amaranth does) plus ``clk`` and ``rst`` (unless the top is in
    :data:`COMBINATIONAL_TOPS`); no elaboration needed."""
    import gc
    import warnings

    from amaranth.hdl import Shape
    from amaranth.hdl import UnusedElaboratable
    from amaranth.lib import wiring

    from hw.generate import TOPS, tops
    if top not in TOPS:
        raise ValueError(f"top = {top!r} is not one of {', '.join(TOPS)}")
    ports = [] if top in COMBINATIONAL_TOPS else [Port(CLOCK_PORT, "input", 1),
                                                  Port(RESET_PORT, "input", 1)]
    with warnings.catch_warnings():
        # The component (and the parts its constructor makes) is built for its signature
        # only; Amaranth would warn that it was never elaborated.
        warnings.simplefilter("ignore", UnusedElaboratable)
        comp = tops()[top](cfg)
        for path, member, _value in comp.signature.flatten(comp):
            name = "__".join(str(p) for p in path)
            ports.append(Port(name, "input" if member.flow == wiring.In else "output",
                              Shape.cast(member.shape).width))
        del comp, _value
        gc.collect()
    return ports


def _ref(p: Port) -> str:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", p.name):
        raise ValueError(f"port {p.name!r} is not a plain identifier; the SDC writer cannot "
                         "quote it")
    return f"{{{p.name}[*]}}" if p.width > 1 else p.name


def sdc_text(cfg: ExionConfig, ports: list[Port], top_module: str, *,
             regenerate: str | None = None) -> str:
    """SDC for ``top_module`` with ``ports`` (see the module docstring for the rules).

    Deterministic: same configuration and ports, same text. ``regenerate`` is the command
    line quoted in the header.
    """
    period = period_ns(cfg)
    din = INPUT_DELAY_FRACTION * period
    dout = OUTPUT_DELAY_FRACTION * period
    names = {p.name for p in ports}
    clocked = CLOCK_PORT in names
    lines = [
        f"# Timing constraints for {top_module} ({cfg.rows}x{cfg.cols}, lanes {cfg.lanes}, "
        f"merge degree {cfg.merge_degree}, INT{cfg.data_width}).",
        "# Generated by exion-gen (exion_tools/sdc.py) from ExionConfig; do not edit.",
    ]
    if regenerate:
        lines.append(f"# Regenerate with: {regenerate}")
    lines += [
        "#",
        f"# clock_mhz = {cfg.clock_mhz:g} -> period {period:.3f} ns",
        f"# input delay  = {INPUT_DELAY_FRACTION:g} x period = {din:.3f} ns "
        "(logic outside the top before each input)",
        f"# output delay = {OUTPUT_DELAY_FRACTION:g} x period = {dout:.3f} ns "
        "(logic outside the top after each output)",
        f"# {RESET_PORT}: synchronous reset held for many cycles -> false path",
        "",
    ]
    if clocked:
        lines.append(f"create_clock -name clk -period {period:.3f} [get_ports {CLOCK_PORT}]")
    else:  # a combinational top: I/O delays against a virtual clock
        lines.append(f"create_clock -name clk -period {period:.3f}")
    lines.append("")
    ports = [p for p in ports if p.width > 0]   # zero-width ports carry nothing
    for p in ports:
        if p.direction == "input" and p.name not in (CLOCK_PORT, RESET_PORT):
            lines.append(f"set_input_delay -clock clk {din:.3f} [get_ports {_ref(p)}]")
    lines.append("")
    for p in ports:
        if p.direction == "output":
            lines.append(f"set_output_delay -clock clk {dout:.3f} [get_ports {_ref(p)}]")
    if RESET_PORT in names:
        lines += ["", f"set_false_path -from [get_ports {RESET_PORT}]"]
    return "\n".join(lines) + "\n"


# -- command line (``exion sdc``, see exion_tools/cli.py) -----------------------------------------

def add_sdc_arguments(p) -> None:
    from hw.generate import DEFAULT_TOP, TOPS
    p.add_argument("--top", choices=TOPS, default=DEFAULT_TOP,
                   help=f"unit to constrain, one of {', '.join(TOPS)} (default {DEFAULT_TOP})")
    p.add_argument("--out", default=None,
                   help="folder to write <name>.sdc into, named as make verilog names the "
                        "design (default build)")
    p.add_argument("--file", help="write exactly this file instead of one in --out "
                                  "(default: none)")


def regenerate(cfg: ExionConfig, top: str, file: str | None = None) -> str:
    """An ``exion sdc`` command line that writes the same text (fields off the defaults;
    ``--file`` only if it is a relative path, so no machine path lands in the output)."""
    from dataclasses import fields

    from hw.generate import DEFAULT_TOP
    default = preset("exion")  # the CLI's starting point
    parts = ["exion sdc"]
    if top != DEFAULT_TOP:
        parts.append(f"--top {top}")
    for f in fields(ExionConfig):
        v = getattr(cfg, f.name)
        if f.name != "name" and v != getattr(default, f.name):
            parts.append(f"--{f.name.replace('_', '-')} {v:g}" if isinstance(v, float)
                         else f"--{f.name.replace('_', '-')} {v}")
    if file and not Path(file).is_absolute():
        parts.append(f"--file {file}")
    return " ".join(parts)


def cli_sdc(args, cfg: ExionConfig) -> int:
    from exion.util import atomic_write

    from hw.generate import design_base

    from .inputs import InputError, check_out_dir, check_out_file
    if args.file is not None and args.out is not None:
        raise InputError("--file and --out exclude each other: give one")
    if args.file is not None:
        check_out_file("--file", args.file)
    else:
        check_out_dir("--out", args.out if args.out is not None else "build")
    text = sdc_text(cfg, ports_from_signature(cfg, args.top), f"exion_{args.top}",
                    regenerate=regenerate(cfg, args.top, args.file))
    if args.file:
        path = Path(args.file)
        path.parent.mkdir(parents=True, exist_ok=True)
    else:
        out = Path(args.out if args.out is not None else "build")
        out.mkdir(parents=True, exist_ok=True)
        path = out / f"{design_base(cfg, args.top)}.sdc"
    atomic_write(path, text)
    print(f"wrote {path} (clock {cfg.clock_mhz:g} MHz, period {period_ns(cfg):.3f} ns)")
    return 0
