"""Modelled neuromorphic hardware (crossbar, SpiNNaker, energy): not built yet.

Installed as ``spiking.hardware``; reads the network description and the engines' activity ledger.
"""
