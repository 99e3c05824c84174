"""Analog resistive crossbars: array read energy from the backend's own conductance sums, and the
periphery (ADC, DAC, digital accumulation) per conversion.

* Array: E = V_read^2 * sum(G) * t_read over the cells read (the backend reports the summed
  conductance in siemens and its V_read, t_read: 0.2 V, 10 ns by default).
* ADC: NeuroSim's SAR ADC fit for 22 nm LSTP (DNN_NeuroSim_V1.3,
  ``Inference_pytorch/NeuroSIM/SarADC.cpp``): power (0.538 log2 L + 4.3753) uW for L levels and a
  conversion time of (log2 L + 1) ns, so E(b bits) = (0.538 b + 4.3753) uW x (b + 1) ns
  (42.4 fJ at 5 bits).
* DAC: 1-bit input drivers of ISAAC (Shafiee et al., ISCA 2016, Table 6: 8 x 128 DACs, 4 mW, at
  a 100 ns crossbar read cycle): 4 mW / 1024 / 10 MHz = 0.39 pJ per conversion; a b-bit
  capacitive DAC switches 2^(b-1) times that capacitance (Saberi et al., IEEE TCAS-I 58(8) 2011:
  switching energy proportional to the total array capacitance, 2^b unit capacitors).
* Digital accumulation of partial sums across tiles: one 32-bit integer add, Horowitz 45 nm
  0.1 pJ scaled to 22 nm by 22/45 (0.049 pJ).
* Neurons (digital, beside the array): Horowitz fp32 multiply + add per state variable per update,
  scaled to 22 nm.

The device presets (PCM, RRAM) live in ``spiking.hardware.crossbar.devices``; their conductances
reach the energy model only through the backend's counts.
"""
from __future__ import annotations

from dataclasses import dataclass

from .base import Preset, pJ
from .horowitz import ADD, MULT

NEUROSIM = ("X. Peng, S. Huang, H. Jiang, A. Lu, S. Yu, \"DNN+NeuroSim V2.0\", IEEE TCAD 2021; "
            "DNN_NeuroSim_V1.3 Inference_pytorch/NeuroSIM/SarADC.cpp (SAR ADC fit, 22 nm LSTP)")
ISAAC = ("A. Shafiee et al., \"ISAAC: a convolutional neural network accelerator with in-situ analog arithmetic "
         "in crossbars\", ISCA 2016, Table 6 (1-bit DACs); M. Saberi et al., IEEE TCAS-I 58(8), 2011 "
         "(capacitive DAC energy vs resolution)")


@dataclass(frozen=True)
class CrossbarPreset(Preset):
    """Periphery energies of a crossbar accelerator; ``device``: the crossbar device preset whose
    counts it prices (None: any)."""

    device: str | None = None
    adc_uw_slope: float = 0.538         # uW per bit (NeuroSim SarADC.cpp, 22 nm LSTP)
    adc_uw_offset: float = 4.3753       # uW
    dac_1bit: float = 0.39 * pJ
    e_accumulate: float = ADD["int32"] * 22 / 45
    e_neuron_op: float = (ADD["fp32"] + MULT["fp32"]) * 22 / 45
    node_nm: float = 22.0
    device_citation: str = ""

    def e_adc(self, bits: int) -> float:
        """Energy of one SAR conversion of ``bits`` bits (log2 L = bits)."""
        bits = int(bits)
        if bits < 1:
            raise ValueError(f"ADC bits={bits}: expected a positive resolution")
        return (self.adc_uw_slope * bits + self.adc_uw_offset) * 1e-6 * (bits + 1) * 1e-9

    def e_dac(self, bits: int) -> float:
        bits = int(bits)
        if bits < 1:
            raise ValueError(f"DAC bits={bits}: expected a positive resolution")
        return self.dac_1bit * 2 ** (bits - 1)


_ASSUME = ("array: V_read^2 x summed conductance x t_read, from the backend's counts",
           "ADC: NeuroSim SAR fit at 22 nm LSTP; DAC: ISAAC 1-bit driver, x 2^(b-1) for b bits; "
           "spike (binary) inputs need no DAC",
           "digital partial-sum accumulation: int32 add (Horowitz 45 nm scaled to 22 nm)",
           "neurons: fp32 multiply + add per state variable per update (Horowitz, scaled to 22 nm)",
           "no leakage/static power, no buffers, no weight programming energy")


def _crossbar(name, device, device_citation):
    return CrossbarPreset(name=name, device=device, citation=NEUROSIM + "; " + ISAAC, device_citation=device_citation,
                          modes=("hardware",), assumptions=_ASSUME)


CROSSBAR = _crossbar("crossbar", None, "any device of spiking.hardware.crossbar")
PCM_IBM = _crossbar("pcm_ibm", "pcm_ibm", "IBM aihwkit PCM statistical model (Nandakumar et al. 2019; "
                                          "aihwkit inference/noise/pcm.py), via spiking.hardware.crossbar")
RRAM_WAN2022 = _crossbar("rram_wan2022", "rram_wan2022", "Wan et al., Nature 608, 2022 (NeuRRAM), via "
                                                         "spiking.hardware.crossbar")
