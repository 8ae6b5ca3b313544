"""SeqLab's Streamlit entry: page config, the sign-in wall of team mode, navigation over pages/."""

from pathlib import Path

import streamlit as st

from ui.signin import wall

ANYONE, STAFF, ADMIN = {"admin", "reviewer", "annotator"}, {"admin", "reviewer"}, {"admin"}
TEAM_ONLY = {"Review"}  # assignments and annotators' own corrections exist only among signed-in people
PAGES = [  # path, title, icon, who sees it in team mode (the services check each call as well)
    ("pages/tag.py", "Tag", ":material/label:", ANYONE),
    ("pages/annotate.py", "Annotate", ":material/edit_note:", ANYONE),
    ("pages/review.py", "Review", ":material/rate_review:", STAFF),
    ("pages/data.py", "Data", ":material/database:", STAFF),
    ("pages/train.py", "Train", ":material/model_training:", STAFF),
    ("pages/models.py", "Models", ":material/inventory_2:", STAFF),
    ("pages/settings.py", "Settings", ":material/settings:", ADMIN),
]

st.set_page_config(page_title="SeqLab", layout="wide")
# team mode: only the sign-in form (and st.stop()) until someone signs in, whatever the address
actor = wall([Path(path).stem for path, title, *_ in PAGES if title != "Tag"])
st.navigation([
    st.Page(path, title=title, icon=icon, default=title == "Tag")
    for path, title, icon, roles in PAGES
    if (actor is None and title not in TEAM_ONLY) or (actor is not None and actor.role in roles)
]).run()
