"""The parameter table printed when training starts (Lightning's rich table, trimmed)."""

from __future__ import annotations

from typing import Any

from lightning.pytorch.callbacks import RichModelSummary
from lightning.pytorch.utilities.model_summary import get_formatted_model_size, get_human_readable_count
from rich import get_console
from rich.table import Table


class ModelSummary(RichModelSummary):
    """Lightning's rich parameter table, without the FLOPs column and total when no FLOPs were counted (Lightning
    counts them only for a module with an ``example_input_array``)."""

    @staticmethod
    def summarize(
        summary_data: list[tuple[str, list[str]]],
        total_parameters: int,
        trainable_parameters: int,
        model_size: float,
        total_training_modes: dict[str, int],
        total_flops: int,
        **summarize_kwargs: Any,
    ) -> None:
        table = Table(header_style=summarize_kwargs.get("header_style", "bold magenta"))
        columns = [(name, values) for name, values in summary_data if name != "FLOPs" or total_flops]
        for name, _ in columns:
            table.add_column(name, justify="right" if name in ("Params", "FLOPs") else "left")
        for row in zip(*(values for _, values in columns)):
            table.add_row(*row)
        console = get_console()
        console.print(table)
        count = get_human_readable_count
        lines = [
            f"Trainable params: {count(trainable_parameters)}",
            f"Non-trainable params: {count(total_parameters - trainable_parameters)}",
            f"Total params: {count(total_parameters)}",
            f"Total estimated model params size (MB): {get_formatted_model_size(model_size)}",
        ]
        if total_flops:
            lines.append(f"Total FLOPs: {count(total_flops)}")
        console.print("\n".join(lines), highlight=False)
