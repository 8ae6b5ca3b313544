"""SeqLab's Streamlit entry: page config and navigation over pages/, nothing else."""

import streamlit as st

st.set_page_config(page_title="SeqLab", layout="wide")
st.navigation([
    st.Page("pages/tag.py", title="Tag", icon=":material/label:", default=True),
    st.Page("pages/annotate.py", title="Annotate", icon=":material/edit_note:"),
    st.Page("pages/data.py", title="Data", icon=":material/database:"),
    st.Page("pages/train.py", title="Train", icon=":material/model_training:"),
    st.Page("pages/models.py", title="Models", icon=":material/inventory_2:"),
    st.Page("pages/settings.py", title="Settings", icon=":material/settings:"),
]).run()
