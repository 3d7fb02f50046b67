"""Agent context over a variant store: a question in, a compact variant summary out, within a budget.

``variant_pack(store_dir, question, budget)`` reads the question for what a variant query can
use, runs the matching structured queries (``query.run_query``) and renders what they return:

- **entities**: gene symbols the store knows (a word in capitals and digits, such as ``BRCA2``
  or ``TP53``, checked against the store), rsIDs (``rs6054257``), regions (``chr20:1,000-2,000``
  or ``20:1000-2000``) and sample names (the store's own names, matched as whole words);
- **intent words**, which narrow every query: *loss-of-function*, *LoF*, *truncating* ->
  ``lof`` (on the same annotation entry as the gene); *high impact*, *moderate impact* -> that
  impact; *damaging*, *deleterious* -> HIGH or MODERATE; *missense*, *synonymous*,
  *frameshift*, *stop gained* -> that consequence; *pathogenic* / *benign* -> ClinVar;
  *rare* -> reference-population AF <= 1% (gnomAD, ExAC, 1000 Genomes... from the annotations,
  never the file's own AF), *common* -> population AF >= 5%; *homozygous* / *heterozygous* ->
  zygosity.
- **what matched nothing** is said, not dropped: a gene-like word (``BRCA2``) no annotation in the
  store names, and *rare*/*common* in a store without population frequencies (the filter is then
  not applied, and the answer says so).

What it renders (markdown), most useful first, each part only if it still fits:

1. one line per query: what was asked and how many alleles matched, with counts by impact;
2. a table of the top variants by clinical weight (ClinVar pathogenic first, then
   loss-of-function, impact, rarity): key, gene, transcript with HGVS, consequence, impact,
   population AF with its source, ClinVar with review stars, FILTER, and carriers;
3. a closing line saying how many matching variants the table left out;
4. with the budget left, every carrier of the shown variants (sample, GT, GQ, DP), as many as fit.

The budget is hard: the table holds the ranked rows up to the first one that the exact token
count of the whole text (the same tokenizer as code packs) says does not fit, found by the step
code packs end with too (``pack.fit.fit_prefix``, guided by each row's own count).
``BudgetTooSmallError`` when not even the first summary line fits; ``NoMatchesError`` when the
question names nothing the store holds.

The result is a ``Pack``, the same JSON shape as a code pack; its items are ``VariantItem``s,
which carry the variant ``key`` (and the source file as ``path``) where code items carry lines.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from exocortex.errors import BudgetTooSmallError, NoMatchesError
from exocortex.genomics.clinical import clnsig_terms
from exocortex.genomics.query import VariantQuery, run_query, sql_string
from exocortex.genomics.schema import IMPACTS
from exocortex.genomics.store import VariantStore
from exocortex.pack.fit import fit_prefix
from exocortex.pack.governor import Pack
from exocortex.tokens import count_tokens

QUERY_LIMIT = 500
"""Alleles fetched per query before ranking (the table shows what the budget allows of them)."""
MAX_QUERIES = 8
CARRIERS_SHOWN = 5
"""Carriers in a table cell; the carriers section after the table lists the rest the budget allows."""
MAX_CARRIERS_FETCHED = 2_000
"""Carriers read per shown variant for the carriers section."""
RARE_POP_AF = 0.01
COMMON_POP_AF = 0.05

_RSID = re.compile(r"\brs\d+\b", re.IGNORECASE)
_REGION = re.compile(r"\b(?:chr)?[0-9XYMT]{1,2}:\d[\d,]*(?:-\d[\d,]*)?\b", re.IGNORECASE)
_GENE_LIKE = re.compile(r"\b[A-Za-z0-9][A-Za-z0-9_.-]*[A-Za-z0-9]\b")
"""A word that may be a gene symbol (BRCA2, C9orf72, HLA-DRB1); only those with a capital letter
are looked up, and only those the store holds count."""
MAX_GENE_WORDS = 200
_WORD = re.compile(r"[A-Za-z0-9_.-]+")

_INTENTS: list[tuple[re.Pattern[str], dict[str, Any]]] = [
    (re.compile(r"loss[- ]of[- ]function|\blof\b|truncating|protein[- ]truncating", re.I), {"lof": True}),
    (re.compile(r"\bdamaging\b|\bdeleterious\b|\bharmful\b", re.I), {"impact": "HIGH,MODERATE"}),
    (re.compile(r"\bhigh[- ]impact\b", re.I), {"impact": "HIGH"}),
    (re.compile(r"\bmoderate[- ]impact\b", re.I), {"impact": "MODERATE"}),
    (re.compile(r"\bmissense\b", re.I), {"consequence": "missense_variant"}),
    (re.compile(r"\bsynonymous\b", re.I), {"consequence": "synonymous_variant"}),
    (re.compile(r"\bframe ?shift\b", re.I), {"consequence": "frameshift_variant"}),
    (re.compile(r"\bstop[- ]gained\b|\bnonsense\b", re.I), {"consequence": "stop_gained"}),
    (re.compile(r"\blikely[- ]pathogenic\b", re.I), {"clnsig": "Likely_pathogenic"}),
    (re.compile(r"(?<!likely )\bpathogenic\b", re.I), {"clnsig": "Pathogenic"}),
    (re.compile(r"\bbenign\b", re.I), {"clnsig": "Benign"}),
    (re.compile(r"\brare\b", re.I), {"max_pop_af": RARE_POP_AF}),
    (re.compile(r"\bcommon\b", re.I), {"where": f"pop_af >= {COMMON_POP_AF}"}),
    (re.compile(r"\bhomozygous\b|\bhom[- ]alt\b", re.I), {"zygosity": "hom_alt"}),
    (re.compile(r"\bheterozygous\b|\bhet\b", re.I), {"zygosity": "het"}),
]
_INHERITANCE: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\bde[- ]novo\b", re.I), "de_novo"),
    (re.compile(r"\bcompound[- ]het(?:erozygous|erozygote)?s?\b", re.I), "compound_het"),
    (re.compile(r"\b(?:homozygous[- ])?recessive\b", re.I), "recessive"),
]
"""Words that ask for an inheritance pattern in the pedigree's trios (``genomics.inheritance``)."""
INHERITANCE_ROWS = 2_000
"""Alleles an inheritance question reads per trio (their rows then go through the usual query)."""
# Words in capitals that are not gene symbols even when a store happens to hold them as one.
_NOT_GENES = {"DNA", "RNA", "VCF", "BCF", "SNV", "SNP", "MNV", "HGVS", "PASS", "AND", "OR", "NOT", "THE", "HIGH",
              "LOW", "MODERATE", "MODIFIER", "LOF", "GQ", "DP", "AF", "AC", "AN", "GT", "ID"}  # fmt: skip


@dataclass(frozen=True, slots=True)
class VariantItem:
    """One variant a pack shows: its key where a code item has line ranges."""

    path: str
    """The source file the variant was ingested from."""
    key: str
    kind: str
    symbol: str
    """The gene, or '' when unannotated."""
    score: float
    tokens: int

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "kind": self.kind, "key": self.key, "symbol": self.symbol,
                "score": self.score, "tokens": self.tokens}  # fmt: skip


@dataclass
class Question:
    """What was read from the question: the queries to run and the words that led to them."""

    queries: list[tuple[str, VariantQuery]] = field(default_factory=list)
    narrowing: dict[str, Any] = field(default_factory=dict)
    unmatched: list[str] = field(default_factory=list)
    """What the question asked for that the store cannot answer, one sentence each."""


def _has_population_data(store: VariantStore) -> bool:
    return bool(store.has("variants") and store.table("variants").count_rows("pop_af IS NOT NULL"))


def read_question(store: VariantStore, question: str) -> Question:
    """The structured queries a question asks for (empty when it names nothing the store holds)."""
    narrowing: dict[str, Any] = {}
    for pattern, filters in _INTENTS:
        if pattern.search(question):
            for name, value in filters.items():
                narrowing.setdefault(name, value)
    unmatched: list[str] = []
    frequency = "max_pop_af" in narrowing or "pop_af" in str(narrowing.get("where", ""))
    if frequency and not _has_population_data(store):
        word = "rare" if "max_pop_af" in narrowing else "common"
        narrowing.pop("max_pop_af", None)
        narrowing.pop("where", None)
        unmatched.append(
            f"'{word}' was not applied: no variant in this store has a reference-population frequency "
            "(gnomAD, ExAC, 1000 Genomes... in its annotations); add one with `exocortex vcf annotate --population`"
        )
    out = Question(narrowing=narrowing, unmatched=unmatched)
    base = VariantQuery(limit=QUERY_LIMIT, **narrowing)
    for region in _REGION.findall(question):
        out.queries.append((f"region {region}", replace(base, region=region)))
    for rsid in dict.fromkeys(m.lower() for m in _RSID.findall(question)):
        out.queries.append((f"{rsid}", replace(base, where=f"rsid = {sql_string(rsid)}")))
    names = set(store.read("samples", ["name"])["name"].to_pylist())
    samples = [w for w in dict.fromkeys(_WORD.findall(question)) if w in names]
    genes, unknown = _genes_named(store, question, names)
    out.unmatched += [f"gene {word}: no annotation in this store names it" for word in unknown]
    mode = next((m for pattern, m in _INHERITANCE if pattern.search(question)), None)
    if mode is not None:
        narrowing.pop("zygosity", None)  # "homozygous recessive" names the pattern, not a filter
        base = VariantQuery(limit=QUERY_LIMIT, **narrowing)
        out.queries = _inheritance_queries(store, mode, genes, samples, base, out.unmatched)
        return out
    for gene in genes:
        out.queries.append((f"gene {gene}", replace(base, gene=gene)))
    if samples:
        if out.queries:  # "which variants in BRCA2 does NA12878 carry": every query, per sample
            out.queries = [(f"{label}, sample {s}", replace(q, sample=s)) for label, q in out.queries for s in samples]
        else:
            out.queries = [(f"sample {s}", replace(base, sample=s)) for s in samples]
    out.queries = out.queries[:MAX_QUERIES]
    return out


_SYMBOL = re.compile(r"^(?:[A-Z][A-Z0-9-]*[0-9][A-Z0-9-]*|[A-Z]{3,}[A-Z0-9-]*|C[0-9]+orf[0-9]+)$")
"""A word that reads as a gene symbol even to a reader who does not know the store (WASH7P, BRCA2,
TP53, C9orf72): when the store does not know it, the answer says so."""


def _inheritance_queries(
    store: VariantStore, mode: str, genes: list[str], samples: list[str], base: VariantQuery, unmatched: list[str]
) -> list[tuple[str, VariantQuery]]:
    """One query per (proband, gene) over the alleles that follow ``mode`` in its trio; what cannot
    be asked (no pedigree, a named sample that is no trio's child) goes to ``unmatched``."""
    from exocortex.errors import UsageError
    from exocortex.genomics.inheritance import inheritance

    queries = []
    words = mode.replace("_", " ")
    probands: list[str | None] = list(samples) or [None]
    for proband in probands:
        wanted: list[str | None] = list(genes) or [None]
        for gene in wanted:
            try:
                found = inheritance(store, mode, proband=proband, gene=gene, limit=INHERITANCE_ROWS)
            except (UsageError, NoMatchesError) as exc:
                unmatched.append(f"{words}: {exc}")
                continue
            vids = sorted({int(r["vid"]) for r in found.rows})
            trios = ", ".join(f"{t.child} (father {t.father}, mother {t.mother})" for t in found.trios)
            label = f"{words} in {trios}" + (f", gene {gene}" if gene else "")
            where = f"vid IN ({', '.join(map(str, vids))})" if vids else "vid < 0"
            queries.append((label, replace(base, where=where)))
            unmatched.extend(found.notes)
    return queries[:MAX_QUERIES]


def _genes_named(store: VariantStore, question: str, samples: set[str]) -> tuple[list[str], list[str]]:
    """(gene-like words some annotation entry names, symbol-like words none does and no sample is called)."""
    words = [w for w in dict.fromkeys(_GENE_LIKE.findall(question))
             if w not in _NOT_GENES and any(c.isupper() for c in w) and not _RSID.fullmatch(w)]
    words = words[:MAX_GENE_WORDS]
    if not words:
        return [], []
    listed = ", ".join(sql_string(w) for w in words)
    if store.has("annotations"):
        found = store.read("annotations", ["gene"], f"gene IN ({listed})")["gene"].to_pylist()
    else:
        found = store.read("variants", ["gene"], f"gene IN ({listed})")["gene"].to_pylist()
    known = set(found)
    if len(known) < len(words):  # ClinVar or a non-summary entry may name it only in `genes`
        rows = store.read("variants", ["genes"], f"array_has_any(genes, [{listed}])")["genes"].to_pylist()
        known |= {g for gs in rows for g in gs or ()}
    named = [w for w in words if w in known]
    unknown = [w for w in words if w not in known and _SYMBOL.match(w) and w not in samples]
    return named, unknown


_CLINVAR_RANK = {"pathogenic": 0, "likely_pathogenic": 1, "uncertain_significance": 3,
                 "conflicting_interpretations_of_pathogenicity": 2,
                 "conflicting_classifications_of_pathogenicity": 2}  # fmt: skip


def _clinvar_rank(clnsig: str | None) -> int:
    """0 pathogenic, 1 likely pathogenic, 2 conflicting, 3 uncertain, 4 anything else or none."""
    return min((_CLINVAR_RANK.get(t.lower(), 4) for t in clnsig_terms(clnsig)), default=4)


def _severity(row: dict[str, Any]) -> tuple[int, int, int, float, float]:
    """Clinical weight, most weighty first: ClinVar pathogenic, loss of function, impact, rarity
    (population AF, else the file's AF)."""
    impact = row.get("impact")
    rank = IMPACTS.index(impact) if impact in IMPACTS else len(IMPACTS)
    pop = row.get("pop_af")
    af = row.get("af")
    return (
        _clinvar_rank(row.get("clnsig")),
        0 if row.get("lof") else 1,
        rank,
        pop if pop is not None else 1.0,
        af if af is not None else 1.0,
    )


def _carriers_text(carriers: list[dict[str, Any]], n_carriers: int | None) -> str:
    shown = [f"{c['sample']} ({c['zygosity']})" for c in carriers[:CARRIERS_SHOWN]]
    total = n_carriers if n_carriers is not None else len(carriers)
    more = total - len(shown)
    return ", ".join(shown) + (f" +{more} more" if more > 0 else "") if shown else ("—" if not total else f"{total}")


def _cell(value: Any) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value).replace("|", "\\|")


def variant_pack(store_dir: str | Path, question: str, budget: int, tokenizer: str = "o200k_base") -> Pack:
    """The variant context ``question`` asks for, rendered within ``budget`` tokens (see the module)."""
    store = VariantStore(store_dir)
    asked = read_question(store, question)
    if not asked.queries:
        if asked.unmatched:  # what it asked for and why the store cannot answer
            raise NoMatchesError("; ".join(asked.unmatched))
        raise NoMatchesError(
            "the question names no gene, rsID, region or sample this variant store holds "
            "(e.g. 'loss-of-function variants in BRCA2', 'rs6054257', 'chr20:1000000-2000000', a sample name)"
        )
    sources = {int(s): p for s, p in zip(*(store.read("sources", ["source", "path"]).column(c).to_pylist()
                                           for c in ("source", "path")), strict=True)}  # fmt: skip
    summaries: list[str] = []
    rows: dict[int, dict[str, Any]] = {}
    total_matched = 0
    for label, query in asked.queries:
        result = run_query(store.store_dir, query, max_carriers=MAX_CARRIERS_FETCHED)
        total_matched += result.matched
        impacts: dict[str, int] = {}
        for row in result.rows.to_pylist():
            row["carriers"] = result.carriers.get(row["vid"], [])
            rows.setdefault(row["vid"], row)
            impacts[row.get("impact") or "unannotated"] = impacts.get(row.get("impact") or "unannotated", 0) + 1
        by_impact = ", ".join(f"{k} {v}" for k, v in sorted(impacts.items(), key=lambda kv: _impact_rank(kv[0])))
        detail = f" (of the first {len(result.rows)}: {by_impact})" if by_impact else ""
        summaries.append(f"- {label}: {result.matched:,} matching alleles{detail}")
    narrowing = ", ".join(f"{k}={v}" for k, v in asked.narrowing.items())
    head = [f"# Variants for: {question.strip()}", ""]
    incomplete = store.incomplete_ingests()
    if incomplete:  # said first: every count below leaves out the rest of these files
        head += [f"Note: {entry['note']}" for entry in incomplete] + [""]
    if narrowing:
        head += [f"Filters read from the question: {narrowing}", ""]
    if asked.unmatched:
        head += [f"Not found: {line}" for line in asked.unmatched] + [""]
    head += summaries
    ranked = sorted(rows.values(), key=_severity)
    table_head = ["", "| variant | gene | transcript: HGVS | consequence | impact | population AF | ClinVar | FILTER "
                  "| AF | carriers |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]  # fmt: skip

    row_lines = ["| " + " | ".join([
        _cell(row["key"]), _cell(row.get("gene")), _cell(_hgvs(row)), _cell(row.get("consequence")),
        _cell(_impact_text(row)), _cell(_population(row)), _cell(_clinvar(row)), _cell(row.get("filter")),
        _cell(row.get("af")), _cell(_carriers_text(row["carriers"], row.get("n_carriers"))),
    ]) + " |" for row in ranked]  # fmt: skip

    def table(n: int) -> list[str]:
        lines = list(head)
        if n:
            lines += table_head + row_lines[:n]
        left = len(ranked) - n
        if left > 0:
            lines += ["", f"{left:,} more matching variants not shown (raise the budget or narrow the question)."]
        return lines

    def render(n: int) -> tuple[str, int]:
        text = "\n".join(table(n)) + "\n"
        return text, count_tokens(text, tokenizer)

    table_head_tokens = count_tokens("\n".join(table_head) + "\n", tokenizer)

    @functools.cache
    def row_cost(i: int) -> int:
        """A row's planned cost: its line's own count (a line that starts with '|' starts a pre-token)."""
        return count_tokens(row_lines[i] + "\n", tokenizer) + (table_head_tokens if i == 0 else 0)

    def too_small(tokens: int) -> BudgetTooSmallError:
        return BudgetTooSmallError(
            f"a budget of {budget} tokens cannot hold even the variant summary ({tokens} tokens)"
        )

    # The most severe rows first, as many as the exact count allows (the step code packs end with too).
    fit = fit_prefix(render, len(ranked), budget, cost=row_cost, base=render(0)[1], too_small=too_small)
    text, tokens, shown = fit.rendered, fit.tokens, fit.kept
    text, tokens = _with_carriers(table(shown), ranked[:shown], text, tokens, budget, tokenizer)
    items = tuple(
        VariantItem(
            path=sources.get(int(row["vid"]) >> 40, ""),
            key=row["key"],
            kind="variant",
            symbol=row.get("gene") or "",
            score=float(len(IMPACTS) - _severity(row)[2]),
            tokens=count_tokens(row["key"], tokenizer),
        )
        for row in ranked[:shown]
    )
    manifest = store.manifest
    return Pack(
        query=question,
        budget=budget,
        tokenizer=tokenizer,
        tokens=tokens,
        text=text,
        items=items,
        index={"store": str(store.store_dir), "kind": "variants", "matched": total_matched,
               "tables": dict(manifest.tables), "incomplete": incomplete},  # fmt: skip
        format="markdown",
    )


def _hgvs(row: dict[str, Any]) -> str | None:
    hgvs = row.get("hgvs_p") or row.get("hgvs_c")
    transcript = row.get("transcript")
    if hgvs and transcript and not hgvs.startswith(transcript):
        return f"{transcript}: {hgvs}"
    return hgvs or transcript


def _impact_text(row: dict[str, Any]) -> str | None:
    impact = row.get("impact")
    return f"{impact or '—'}, LoF" if row.get("lof") else impact


def _population(row: dict[str, Any]) -> str | None:
    pop = row.get("pop_af")
    if pop is None:
        return None
    source = re.sub(r"^(CSQ|INFO):", "", row.get("pop_af_source") or "")  # a file's name stays
    return f"{pop:.3g} ({source})" if source else f"{pop:.3g}"


def _clinvar(row: dict[str, Any]) -> str | None:
    clnsig = row.get("clnsig")
    stars = row.get("clinvar_stars")
    if clnsig and stars is not None:
        return f"{clnsig} ({stars}★)"
    return clnsig


def _with_carriers(
    lines: list[str], shown: list[dict[str, Any]], text: str, tokens: int, budget: int, tokenizer: str
) -> tuple[str, int]:
    """The pack with a carriers section: every carrier of the shown variants (GT, GQ, DP), in table
    order, as many as the budget allows; ``text`` unchanged when the cells already list them all."""
    entries: list[str] = []
    for row in shown:
        carriers = row["carriers"]
        if len(carriers) <= CARRIERS_SHOWN and (row.get("n_carriers") or 0) <= len(carriers):
            continue  # the cell lists them all
        calls = "; ".join(
            f"{c['sample']} {c['gt']} GQ {_cell(c.get('gq'))} DP {_cell(c.get('dp'))}" for c in carriers
        )
        more = (row.get("n_carriers") or 0) - len(carriers)
        entries.append(f"- {row['key']}: {calls}" + (f" (+{more:,} more not read)" if more > 0 else ""))
    if not entries:
        return text, tokens
    section = ["", "## Carriers"]

    def render(n: int) -> tuple[str, int]:
        body = "\n".join(lines + section + entries[:n]) + "\n"
        return body, count_tokens(body, tokenizer)

    @functools.cache
    def cost(i: int) -> int:
        return count_tokens(entries[i] + "\n", tokenizer)

    base_text, base_tokens = render(0)
    if base_tokens > budget:
        return text, tokens
    fit = fit_prefix(
        render, len(entries), budget, cost=cost, base=base_tokens, too_small=lambda t: BudgetTooSmallError("")
    )
    if fit.kept == 0:
        return text, tokens
    return fit.rendered, fit.tokens


def _impact_rank(name: str) -> int:
    return IMPACTS.index(name) if name in IMPACTS else len(IMPACTS)
