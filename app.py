"""SeqLab's Streamlit entry: page config and navigation over pages/, nothing else."""

import streamlit as st

st.set_page_config(page_title="SeqLab", layout="wide")
st.navigation([
    st.Page("pages/data.py", title="Data", icon=":material/database:"),
]).run()
