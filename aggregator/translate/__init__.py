"""Translation into English, offline: Argos Translate models first, Apertium where it covers a
language, a copy for English, and an honest `none:REASON` where nothing does.

Modules: base (backend interface and registry), argos and apertium (the backends), segment
(offline sentence splitting), cache (translation cache), routing (which backend for which
article), models (install/list/remove Argos packages), stage (the pipeline stage).
"""
