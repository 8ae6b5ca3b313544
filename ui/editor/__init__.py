"""The span editor: ``model.py`` (units, unit ranges <-> spans, edit rules), ``editor.py`` (the
Streamlit components v2 component and what crosses to the browser), ``editor.js``/``editor.css``."""
