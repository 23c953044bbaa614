"""The Streamlit side of the workbench: small modules that pages import by name.

``navigation``   the one page list (:data:`~ui.navigation.PAGES`) and the page frame (``page("Fit")``)
``format``       numbers with units, Markdown escaping, file names (no streamlit: plain unit tests)
``widgets``      widgets whose value lives in the URL (select, radio, multiselect, number, toggle, scale)
``store``        the corpus store (opened once, built on first start), the session's uploads as an
                 in-memory store, and cached queries keyed on each store's content
``data``         the sidebar's data choice as a :class:`~ui.data.Data` handle (one API for both stores)
``compute``      one cached, typed call per analysis (``compute.fit(frame, settings) -> FitResult`` ...)
``fit_controls`` the fit settings shared by Fit, Allocate, Trends and Downstream
``output``       charts, tables, downloads, reports, and errors shown instead of tracebacks

A page reads top to bottom: ``navigation.page(name)``, ``data.sidebar()``, widgets, one ``compute``
call, then figures from :mod:`analysis.figures` through ``output.chart``. Nothing in ``analysis/`` or
``datasets/`` imports this package.
"""
