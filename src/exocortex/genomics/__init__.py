"""Genomics: stream VCF/BCF files into the store and answer variant questions for an agent.

``schema`` (the tables), ``store`` (the committed store and its manifest), and the ingest,
validation, query, graph and agent-context modules built on them.
"""
