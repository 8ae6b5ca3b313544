"""Review page (team mode; reviewers, admins): assign documents, adjudicate documents two or more annotators
corrected (their spans side by side, the differences listed, adopt one or merge; a frames project's
frames, one row per predicate, adopt one or merge predicate by predicate), and read the agreement
between annotators, each figure opening the documents they disagree on."""

from __future__ import annotations

from functools import partial

import pandas as pd
import streamlit as st

from services import SeqLabError, Span, StaleDocument
from ui import annotator, colours, counted, frames_html, md, project_picker, selection_units, services
from ui.editor.editor import sent, show_spans, span_editor
from ui.editor.model import layout, to_spans

CHOSEN = "review_doc"  # session key: the document being adjudicated
NOTICE = "review_notice"
ERROR = "review_error"


def assign_section(project) -> None:
    st.subheader("Assign")
    people = services().project_annotators(project.id)
    if not people:
        st.info("The project has no annotators yet: an admin adds accounts and members in Settings.")
        return
    chosen = st.multiselect("Annotators", people, default=people, key="review_annotators",
                            help="The project's annotators (an admin adds members in Settings).")
    overlap = st.slider("Overlap (share of documents that two people correct)", 0, 50, 10, step=5,
                        format="%d %%", key="review_overlap")
    assigned = services().assignments(project.id)
    st.caption(md(f"{counted(len(assigned), 'document')} assigned, {sum(len(v) > 1 for v in assigned.values())} of them "
                  "to two people or more. Assigning takes the documents still to correct that nobody has yet, "
                  "round robin."))
    if st.button("Assign documents", key="review_assign"):
        try:
            result = services().assign_documents(project.id, chosen, overlap=overlap / 100 if len(chosen) > 1 else 0)
        except SeqLabError as exc:
            st.error(md(str(exc)))
            return
        each = ", ".join(f"{name} {n}" for name, n in result.per_annotator.items())
        st.session_state[NOTICE] = (f"Assigned {counted(result.documents, 'document')} ({result.overlapped} to two people): "
                                    f"{each}.")
        st.rerun()
    with st.expander("Assign one document by hand"):
        doc_id = st.number_input("Document id", min_value=1, step=1, key="review_hand_doc")
        people_for_one = st.multiselect("To", people, key="review_hand_people")
        if st.button("Assign it", key="review_hand_assign"):
            try:
                now = services().assign(int(doc_id), people_for_one)
            except SeqLabError as exc:
                st.error(md(str(exc)))
                return
            st.success(md(f"Document #{int(doc_id)} is assigned to {', '.join(now)}."))


def differences(annotations) -> list[str]:
    """Each span not everyone marked, with who marked it."""
    by = {a.annotator: {s.key() for s in a.spans} for a in annotations}
    everyone = set.intersection(*by.values()) if by else set()
    lines = []
    for key in sorted(set().union(*by.values()) - everyone):
        who = [name for name, keys in by.items() if key in keys]
        lines.append((key, who))
    return lines


def adopt(project, doc, name: str, spans) -> None:
    try:
        services().adjudicate(doc.id, spans, reviewer=annotator(), adopted_from=name, expected_version=doc.version)
    except SeqLabError as exc:
        st.session_state[ERROR] = str(exc)
        return
    st.session_state[NOTICE] = f"Document #{doc.id}: {name}'s correction is now its gold."


def frame_differences(text: str, annotations) -> list[tuple[str, list[str]]]:
    """Each predicate and each argument (under its predicate) not everyone marked, with who did."""
    def marks(frames):
        out = {}
        for f in frames:
            p = f.predicate
            said = f"predicate “{text[p.start:p.end]}” [{p.start}, {p.end})"
            out[(p.start, p.end)] = said
            for a in f.arguments:
                out[(p.start, p.end, a.start, a.end, a.label)] = (f"“{text[a.start:a.end]}” [{a.start}, {a.end}) "
                                                                  f"{a.label} of “{text[p.start:p.end]}”")
        return out
    by = {a.annotator: marks(a.frames) for a in annotations}
    everyone = set.intersection(*(set(m) for m in by.values())) if by else set()
    named = {k: v for m in by.values() for k, v in m.items()}
    return [(named[k], [name for name, m in by.items() if k in m]) for k in sorted(set(named) - everyone)]


def adopt_frames(doc, name: str, frames) -> None:
    try:
        services().adjudicate_frames(doc.id, frames, reviewer=annotator(), adopted_from=name,
                                     expected_version=doc.version)
    except SeqLabError as exc:
        st.session_state[ERROR] = str(exc)
        return
    st.session_state[NOTICE] = f"Document #{doc.id}: {name}'s frames are now its gold."


LEAVE_OUT = "(leave it out)"


def predicate_choices(annotations) -> dict[tuple[int, int], dict[str, object]]:
    """Each predicate anyone marked, in text order: who marked it and their frame of it."""
    found: dict[tuple[int, int], dict[str, object]] = {}
    for a in annotations:
        for f in a.frames:
            found.setdefault((f.predicate.start, f.predicate.end), {})[a.annotator] = f
    return dict(sorted(found.items()))


def merge_frames_key(doc, where: tuple[int, int]) -> str:
    return f"review_frames_merge_{doc.id}_{doc.version}_{where[0]}_{where[1]}"


def save_frames_merge(doc, choices) -> None:
    """The frames the merge chose, predicate by predicate, saved as the document's gold."""
    frames = []
    for where, by in choices.items():
        name = st.session_state.get(merge_frames_key(doc, where), next(iter(by)))
        if name in by:
            frames.append(by[name])
    try:
        services().adjudicate_frames(doc.id, frames, reviewer=annotator(), expected_version=doc.version)
    except SeqLabError as exc:
        st.session_state[ERROR] = str(exc)
        return
    count = f"{len(frames)} predicate" + ("" if len(frames) == 1 else "s")
    st.session_state[NOTICE] = f"Document #{doc.id}: the merged frames ({count}) are now its gold."


def frames_merge_section(doc, annotations) -> None:
    """Per predicate, whose frame of it (its sense and arguments) goes into the gold, or none."""
    choices = predicate_choices(annotations)
    if not choices:
        return
    st.markdown("**Merge** " + md("(per predicate, whose frame goes into the gold)"))
    for where, by in choices.items():
        word = doc.text[where[0]:where[1]]
        agreed = len(by) == len(annotations) and len({(f.predicate.label, f.arguments) for f in by.values()}) == 1
        st.selectbox(md(f"“{word}” [{where[0]}, {where[1]})" + (" (all agree)" if agreed else "")),
                     [*by, LEAVE_OUT], key=merge_frames_key(doc, where))
    st.button("Save the merge as gold", key=f"review_frames_save_{doc.id}",
              on_click=partial(save_frames_merge, doc, choices))


def adjudicate_frames_document(project, doc, annotations) -> None:
    """A frames document: each annotator's frames side by side, the differences, adopt one or
    merge them predicate by predicate."""
    columns = st.columns(len(annotations))
    for column, a in zip(columns, annotations):
        with column:
            arguments = sum(len(f.arguments) for f in a.frames)
            st.markdown(f"**{md(a.annotator)}** " + md(f"({len(a.frames)} predicates, {arguments} arguments)"))
            st.html(frames_html(doc.text, a.frames, colours(project)))
            st.button(md(f"Adopt {a.annotator}'s"), key=f"review_adopt_{doc.id}_{a.annotator}",
                      on_click=partial(adopt_frames, doc, a.annotator, a.frames))
    lines = frame_differences(doc.text, annotations)
    if lines:
        st.markdown("**Differences**")
        for said, who in lines:
            st.markdown("- " + md(f"{said}: {', '.join(who)} only"))
    else:
        st.success("They agree exactly.")
    frames_merge_section(doc, annotations)
    gold = "adjudicated" if doc.status == "reviewed" else "not adjudicated yet"
    st.markdown("**Gold** " + md(f"({gold}; to change an argument, correct the gold on Annotate)"))
    if doc.frames:
        st.html(frames_html(doc.text, doc.frames, colours(project)))
    else:
        st.caption("No frames yet.")


def merge_key(doc) -> str:
    return f"review_merge_{doc.id}_{doc.version}"


def merged_spans(project, doc, start) -> list[Span]:
    """What the merge editor last sent (Accept, or its draft of the edits), else what it started from."""
    lay = layout(doc.text, selection_units(doc.text), start)
    for name in ("accept", "work"):
        value = sent(merge_key(doc), name)
        if value is not None and value.document_id == doc.id:
            return to_spans(lay, value.ranges, project.label_names)
    return list(start)


def save_merge(project, doc, start) -> None:
    try:
        spans = merged_spans(project, doc, start)
        services().adjudicate(doc.id, spans, reviewer=annotator(), expected_version=doc.version)
    except (SeqLabError, StaleDocument) as exc:
        st.session_state[ERROR] = str(exc)
        return
    st.session_state[NOTICE] = f"Document #{doc.id}: the merged version is now its gold."


def adjudicate_section(project) -> None:
    st.subheader("Adjudicate")
    queue = services().review_queue(project.id)
    if not queue:
        st.info("No document has two corrections yet. Assign documents with an overlap, and let the annotators work.")
        return
    ids = [item.document_id for item in queue]
    items = {item.document_id: item for item in queue}
    if st.session_state.get(CHOSEN) not in ids:
        st.session_state[CHOSEN] = ids[0]
    waiting = sum(not item.adjudicated for item in queue)
    st.caption(md(f"{counted(len(queue), 'document')} with two or more corrections, {waiting} not adjudicated yet."))
    chosen = st.selectbox("Document", ids, key=CHOSEN, format_func=lambda i: _describe(items[i]))
    doc = services().document(chosen)
    annotations = services().annotations_of(doc.id)
    if project.task_kind == "frames":
        adjudicate_frames_document(project, doc, annotations)
        return
    units = selection_units(doc.text)
    columns = st.columns(len(annotations))
    for column, a in zip(columns, annotations):
        with column:
            st.markdown(f"**{md(a.annotator)}** " + md(f"({counted(len(a.spans), 'span')})"))
            show_spans(doc.text, units, a.spans, project.labels, key=f"review_view_{doc.id}_{a.annotator}")
            st.button(md(f"Adopt {a.annotator}'s"), key=f"review_adopt_{doc.id}_{a.annotator}",
                      on_click=partial(adopt, project, doc, a.annotator, a.spans))
    lines = differences(annotations)
    if lines:
        st.markdown("**Differences**")
        for (start, end, label), who in lines:
            st.markdown("- " + md(f"“{doc.text[start:end]}” [{start}, {end}) {label}: {', '.join(who)} only"))
    else:
        st.success("They agree exactly.")
    gold = "adjudicated" if doc.status == "reviewed" else "not adjudicated yet"
    st.markdown("**Gold** " + md(f"({gold}; to merge, edit here, then Accept in the editor or Save as gold)"))
    start = doc.spans if doc.status == "reviewed" else annotations[0].spans
    span_editor(layout(doc.text, units, start), start, project.labels, key=merge_key(doc), document_id=doc.id,
                version=doc.version, on_accept=partial(save_merge, project, doc, start))
    st.button("Save as gold", key=f"review_save_{doc.id}", on_click=partial(save_merge, project, doc, start))


def _describe(item) -> str:
    state = "adjudicated" if item.adjudicated else ("agree" if item.agree else "differ")
    return f"#{item.document_id} · {', '.join(item.annotators)} · {state} · {item.text[:60]}"


def agreement_section(project) -> None:
    st.subheader("Agreement")
    figures = services().agreement(project.id)
    if not figures.pairs:
        st.info("Agreement needs documents that two annotators corrected.")
        return
    if project.task_kind == "frames":
        st.markdown(md(f"Span F1 over predicates (V) and each predicate's arguments, per role, over "
                       f"{counted(figures.documents, 'document')} with two corrections or more; {len(figures.disagreeing)} "
                       "of them with a difference. (No token figures: a word has a role per predicate.)"))
    else:
        alpha = "–" if figures.alpha is None else f"{figures.alpha:.3f}"
        st.markdown(md("Krippendorff's alpha (nominal, over tokens, every annotator): ") + f"**{md(alpha)}** "
                    + md(f"over {counted(figures.documents, 'document')} with two corrections or more; "
                         f"{len(figures.disagreeing)} of them with a difference."))
    rows = [("every pair", "", "(all)", figures.documents, round(figures.exact_f1, 3), round(figures.overlap_f1, 3),
             None, len(figures.disagreeing))]
    rows += [("every pair", "", la.label, figures.documents, round(la.exact_f1, 3), round(la.overlap_f1, 3), None,
              len(la.disagreeing)) for la in figures.labels]
    for pair in figures.pairs:
        kappa = None if pair.kappa is None else round(pair.kappa, 3)
        rows.append((pair.a, pair.b, "(all)", pair.documents, round(pair.exact_f1, 3), round(pair.overlap_f1, 3),
                     kappa, len(pair.disagreeing)))
        for la in pair.labels:
            rows.append((pair.a, pair.b, la.label, pair.documents, round(la.exact_f1, 3), round(la.overlap_f1, 3),
                         None, len(la.disagreeing)))
    st.dataframe(pd.DataFrame(rows, columns=["annotator A", "annotator B", "label", "documents", "exact F1",
                                             "overlap F1", "Cohen's kappa", "documents disagreeing"]),
                 hide_index=True, key="review_agreement_table")
    choices = {f"every pair · {la.label}": la.disagreeing for la in figures.labels if la.disagreeing}
    choices.update({f"{p.a} – {p.b} · (all)": p.disagreeing for p in figures.pairs if p.disagreeing})
    choices.update({f"{p.a} – {p.b} · {la.label}": la.disagreeing for p in figures.pairs for la in p.labels
                    if la.disagreeing})
    if not choices:
        return
    which = st.selectbox("Disagreeing documents of", list(choices), key="review_disagree_figure")
    doc_id = st.selectbox("Document", choices[which], key=f"review_disagree_doc_{which}",
                          format_func=lambda i: f"#{i}")
    st.button("Open it to adjudicate", key="review_open", on_click=lambda: st.session_state.update({CHOSEN: doc_id}))


project = project_picker()
st.title("Review")
notice = st.session_state.pop(NOTICE, None)
if notice:
    st.success(md(notice))
error = st.session_state.pop(ERROR, None)
if error:
    st.error(md(error))
adjudicate_section(project)
agreement_section(project)
assign_section(project)
