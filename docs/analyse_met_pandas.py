# %% [markdown]
# # Verder analyseren met pandas
#
# Een voorbeeld in notebookvorm (open het in Jupyter of VS Code als notebook, of draai het als
# script): een annotatiemap inlezen als DataFrame, er een tabel en een grafiek van maken.
#
# ```bash
# codeerhulp annotate examples/batch/materiaal --manifest examples/batch/manifest.csv -o annotaties
# python docs/analyse_met_pandas.py annotaties            # schrijft hoofdcodes_per_pool.png
# ```
#
# De uitvoer hieronder komt van die twee commando's (het model dat met Codeerhulp wordt
# meegeleverd; één bestand in de voorbeeldmap is expres kapot).

# %%
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no screen needed; in Jupyter the plot shows inline anyway
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from training.codebook import load_codebook  # noqa: E402
from training.frames import annotations_frame  # noqa: E402
from training.paths import DEFAULT_CODEBOOK  # noqa: E402

pd.set_option("display.width", 160)
pd.set_option("display.max_columns", 12)


def main(folder: str = "annotaties", plot: str = "hoofdcodes_per_pool.png") -> pd.DataFrame:
    """Print the first rows and a table, save a plot; returns the table (main codes per group and moment)."""
    # %% Inlezen: één rij per fragment en voorgestelde code; factor, richting en aard als categorieën.
    df = annotations_frame(folder, load_codebook(DEFAULT_CODEBOOK))
    print(f"{df['segment_id'].nunique()} fragmenten, {df['factor'].notna().sum()} voorgestelde codes")
    print(df[["segment_id", "respondent", "moment", "factor", "richting", "aard", "aard_label", "confidence"]].head())

    # %% Een tabel: hoofdcodes (rank 0) per groep van het codeboek en moment.
    main_codes = df[(df["rank"] == 0) & df["factor"].notna()]
    table = pd.crosstab(main_codes["group"], main_codes["moment"])
    table = table.loc[table.sum(axis=1) > 0, table.sum(axis=0) > 0]
    print(table.to_string())

    # %% Een grafiek: hoofdcodes per factor, gestapeld per pool (aard).
    per_pole = pd.crosstab(main_codes["factor_label"], main_codes["aard_label"])
    per_pole = per_pole.loc[per_pole.sum(axis=1) > 0]
    ax = per_pole.plot.barh(stacked=True, figsize=(7, 0.4 * len(per_pole) + 1.5))
    ax.set_xlabel("fragmenten (hoofdcode van het model)")
    ax.set_ylabel("")
    ax.legend(title="aard", fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    plt.tight_layout()
    plt.savefig(plot, dpi=110)
    print(f"grafiek: {plot}")
    return table


if __name__ == "__main__":
    main(*sys.argv[1:3])
