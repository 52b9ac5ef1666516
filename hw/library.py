"""One Verilog module per unique unit.

Amaranth emits one Verilog module per *instance*: a 16 x 16 SDUE would carry 256 copies of
the DPU, which Yosys and Verilator then process one by one. Units that repeat (DPUs, memory
banks) are therefore placed with :func:`place`. Under a :class:`ModuleLibrary` (what the
generator passes to ``elaborate`` as the platform) ``place`` instantiates a named black box
and records the component once; the library then emits each recorded component as its own
module. Anywhere else (Amaranth's simulator, a unit test) ``place`` adds the component as an
ordinary submodule, so behaviour is identical either way.

Report units: a component declares the synthesis report unit it belongs to (``dpu``,
``imem``, ... : ``exion_tools.synth_model.UNITS``) as its ``report_unit`` attribute, a class
attribute or, where the unit depends on the role (a memory bank is IMEM, WMEM or OMEM), an
instance attribute set by whoever creates it (:func:`declare_unit` for objects of other
libraries, such as a :class:`~amaranth.lib.memory.Memory`). While emitting, the library
gathers the declared units by hierarchical path (:attr:`ModuleLibrary.units`); whatever
declares none belongs to the unit of the module that contains it.
"""

from __future__ import annotations

import gc
import warnings

from amaranth.back import verilog
from amaranth.hdl import (ClockSignal, Fragment, Instance, ResetSignal, UnusedElaboratable,
                          Value, ValueCastable)
from amaranth.lib import wiring

__all__ = ["ModuleLibrary", "place", "declare_unit", "report_unit", "forward"]


def declare_unit(obj, unit: str | None):
    """Set the report unit of ``obj`` (a component, a memory, an instance); returns ``obj``."""
    obj.report_unit = unit
    return obj


def report_unit(obj) -> str | None:
    """The report unit ``obj`` declares, ``None`` if it declares none."""
    return getattr(obj, "report_unit", None)


class ModuleLibrary:
    """Collects the unique shared modules of one design (used as the elaboration platform)."""

    def __init__(self):
        self._modules: dict[str, wiring.Component] = {}
        self._order: list[str] = []
        # Components that stand for an already registered module: never elaborated, so
        # Amaranth would warn when they are freed. They are kept here and freed by emit().
        self._stand_ins: list[wiring.Component] = []
        self._module_units: dict[str, str | None] = {}
        self._units: dict[str, str] = {}

    def register(self, name: str, component: wiring.Component) -> None:
        if name not in self._modules:
            self._modules[name] = component
            self._order.append(name)
            self._module_units[name] = report_unit(component)
        elif component is not self._modules[name]:
            self._stand_ins.append(component)

    @property
    def names(self) -> list[str]:
        return list(self._order)

    @property
    def module_units(self) -> dict[str, str | None]:
        """Shared module name -> the report unit its (first) component declares."""
        return dict(self._module_units)

    @property
    def units(self) -> dict[str, str]:
        """Declared report units of the emitted design by hierarchical path: the top module's
        name, ``<module>.<submodule>...`` (also the Verilog module name Amaranth gives a
        submodule), ``<module>.<instance>`` for a placed shared module (its unit is the placed
        component's, so banks of one module name may differ by role) and
        ``<module>.<memory>`` for a memory. Filled by :meth:`emit`."""
        return dict(self._units)

    def _convert(self, component, name: str) -> str:
        # Elaborated here (not inside verilog.convert) so that the fragment tree can be read
        # for the declared units; the ports are the component's signature, named as convert
        # names them. Their direction is left to Amaranth (None: inferred from the drivers),
        # since its PortDirection enum is not public in 0.5; every top's Verilog is the same
        # as with explicit directions (checked for every generate top when this was written).
        ports = {}
        for path, _member, value in component.signature.flatten(component):
            if isinstance(value, ValueCastable):
                value = value.as_value()
            if isinstance(value, Value):
                ports["__".join(map(str, path))] = (value, None)
        fragment = Fragment.get(component, self)
        self._gather_units(fragment, name)
        return verilog.convert(fragment, name=name, platform=self, ports=ports,
                               emit_src=False)

    def _gather_units(self, fragment, path: str) -> None:
        unit = report_unit(fragment)
        for origin in getattr(fragment, "origins", None) or ():
            unit = unit or report_unit(origin)
        if unit:
            self._units[path] = unit
        for sub, name, _src in fragment.subfragments:
            if name is not None:        # anonymous ones declare nothing here
                self._gather_units(sub, f"{path}.{name}")

    def emit(self, top: wiring.Component, top_name: str) -> str:
        """Verilog of ``top`` followed by every shared module, each defined once.

        Shared modules may themselves place shared modules, so the list can grow while it is
        being emitted.
        """
        parts = [self._convert(top, top_name)]
        done = 0
        while done < len(self._order):
            name = self._order[done]
            parts.append(self._convert(self._modules[name], name))
            done += 1
        with warnings.catch_warnings():
            # Unelaborated on purpose: each stands for its module's one elaborated component.
            warnings.simplefilter("ignore", UnusedElaboratable)
            self._stand_ins.clear()
            gc.collect()  # a component is in reference cycles: free the stand-ins here
        return "\n".join(_strip_banner(p) if i else p for i, p in enumerate(parts))


def _strip_banner(text: str) -> str:
    """Drop the generator banner comment of all but the first converted part."""
    lines = text.splitlines(keepends=True)
    if lines and lines[0].startswith("/* Generated by"):
        lines = lines[1:]
    return "".join(lines)


def place(m, name: str, component: wiring.Component, platform, module_name: str):
    """Add ``component`` to module ``m`` as submodule ``name``.

    With a :class:`ModuleLibrary` platform, it becomes an instance of the Verilog module
    ``module_name`` (defined once by the library); ``module_name`` must identify the component's
    parameters, since every instance shares one definition. The instance carries the
    component's report unit (instances of one module may belong to different units).
    """
    if not isinstance(platform, ModuleLibrary):
        m.submodules[name] = component
        return
    # Only the first component of a module name is elaborated; the library keeps the others
    # (stand-ins) until it has emitted the design.
    platform.register(module_name, component)
    ports = {"i_clk": ClockSignal(), "i_rst": ResetSignal()}
    for path, member, value in component.signature.flatten(component):
        port = "__".join(str(p) for p in path)
        prefix = "i_" if member.flow == wiring.In else "o_"
        ports[prefix + port] = value
    m.submodules[name] = declare_unit(Instance(module_name, **ports), report_unit(component))


def forward(m, inner: wiring.Component, names, outer) -> None:
    """Wire ``inner``'s flat port members ``names`` to the signals ``outer`` gives for them,
    each in the direction of ``inner``'s signature: a sub-component's port brought out to its
    parent's port of the same role. ``outer``: an object whose attribute of the same name is
    the signal, or a function of the name."""
    get = outer if callable(outer) else (lambda name: getattr(outer, name))
    for name in names:
        port, mine = getattr(inner, name), get(name)
        if inner.signature.members[name].flow == wiring.Out:
            m.d.comb += mine.eq(port)
        else:
            m.d.comb += port.eq(mine)
