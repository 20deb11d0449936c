"""Guards and repairs for damaged recordings and library limits, apart from the readers that use them.

What a chunk must pass (``event_checks``), the limits and wording of damage (``damage``), paths
checked before a decoder sees them (``file_checks``), Rust panics kept off the terminal
(``panics``), and the AEDAT 4 and EVT structures walked by hand to step over damage the libraries
stop at (``aedat_header``, ``aedat_packets``, ``aedat_repair``, ``aedat_held_time``,
``evt_time_repair``). Nothing here reads a format on its own: the readers in ``files`` call it.
"""
