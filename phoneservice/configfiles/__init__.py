"""The files the phones fetch: the resolver (``files``), ``SEP<MAC>.cnf.xml``
rendering (``cnf``, ``schemas/cnf.rng``), TFTP (``tftp``, ``tftp_wire``) and the
config port's HTTP blueprint (``http``)."""
