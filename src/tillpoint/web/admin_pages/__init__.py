"""The shop owner's dashboard under ``/admin``: server-rendered shells whose data and
forms go through the admin JSON API (``/api/admin/...``)."""
