"""``openlfr watchlist ...``: create, list, show, delete, add, remove, import."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from openlfr.cli._common import emit_json, progress, settings

if TYPE_CHECKING:
    from openlfr.services.context import AppContext
    from openlfr.services.watchlists import EnrolResult

wl_app = typer.Typer(no_args_is_help=True, help="Manage watchlists (enrolled people and their photos).")
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


def _ctx() -> AppContext:
    from openlfr.services.context import AppContext

    return AppContext(settings())


@wl_app.command("create")
def create(
    name: str, description: Annotated[str, typer.Option(help="What the list is for.")] = "", json_out: JsonOpt = False
) -> None:
    """Create an empty watchlist."""
    from openlfr.services import watchlists

    ctx = _ctx()
    out = watchlists.create(ctx, name, ctx.settings.actor, description)
    emit_json(out) if json_out else typer.echo(f"created watchlist {out.name!r} (id {out.id})")


@wl_app.command("list")
def list_(json_out: JsonOpt = False) -> None:
    """List watchlists with their sizes."""
    from openlfr.services import watchlists

    rows = watchlists.list_all(_ctx())
    if json_out:
        emit_json({"data": rows, "count": len(rows)})
        return
    if not rows:
        typer.echo("no watchlists")
    for r in rows:
        stale = "\t(from another model: run `openlfr watchlist reembed`)" if r.embedder_current is False else ""
        typer.echo(f"{r.name}\t{r.entries} people\t{r.images} images\t{r.embedder or '-'}{stale}")


@wl_app.command("show")
def show(name: str, json_out: JsonOpt = False) -> None:
    """Show a watchlist's entries (no images)."""
    from openlfr.services import watchlists

    info = watchlists.show(_ctx(), name)
    if json_out:
        emit_json(info)
        return
    typer.echo(f"{info.name}: {len(info.entries)} people, model {info.embedder or '-'}")
    for e in info.entries:
        typer.echo(f"  {e.person_id}\t{e.name}\t{e.images} image(s)\t{e.category}")


@wl_app.command("reembed")
def reembed(
    name: Annotated[str | None, typer.Argument(help="Watchlist to re-embed.", show_default=False)] = None,
    all_: Annotated[bool, typer.Option("--all", help="Every watchlist whose vectors are from another model.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Re-embed a watchlist's stored photos with the current model (after a model change); refused while
    a deployment of the list is live."""
    from openlfr.errors import InputError
    from openlfr.services import watchlists

    if (name is None) == (not all_):
        raise InputError("give a watchlist name or --all (not both)", code="bad_option")
    ctx = _ctx()
    names = [name] if name else [r.name for r in watchlists.list_all(ctx) if r.embedder_current is False]
    results = [watchlists.reembed(ctx, n, ctx.settings.actor) for n in names]
    if json_out:
        emit_json({"data": results, "count": len(results)})
        return
    if not results:
        typer.echo("every watchlist's vectors are from the current model")
    for r in results:
        typer.echo(
            f"{r.watchlist}: {r.embedded} of {r.images} photos re-embedded with {r.to_model} "
            f"(was {r.from_model or '-'}); {r.without_face} without a usable face"
        )
        for rej in r.rejected:
            typer.echo(f"  {rej.person_id} (photo {rej.image_id}): {rej.reason}")


@wl_app.command("delete")
def delete(
    name: str, yes: Annotated[bool, typer.Option("--yes", help="Do not ask.")] = False, json_out: JsonOpt = False
) -> None:
    """Delete a watchlist with all its images and embeddings."""
    from openlfr.services import watchlists

    if not yes and not json_out:
        typer.confirm(f"Delete watchlist {name!r} and all its photos and embeddings?", abort=True)
    out = watchlists.delete_watchlist(_ctx(), name, settings().actor)
    if json_out:
        emit_json({"deleted": name, **out})
    else:
        typer.echo(
            f"deleted {name!r}: {out['entries']} people, {out['images']} images, "
            f"{out['embeddings']} embeddings; nothing left behind"
        )


@wl_app.command("remove")
def remove(
    name: str,
    person: Annotated[
        str | None, typer.Argument(help="Person id (always read as a person id, even when it is all digits).")
    ] = None,
    entry_id: Annotated[int | None, typer.Option("--entry-id", help="Or the entry's numeric id.")] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Remove one person with their photos and embeddings (audited)."""
    from openlfr.errors import InputError
    from openlfr.services import watchlists

    if (person is None) == (entry_id is None):
        raise InputError("give a PERSON id or --entry-id, not both", code="bad_arguments")
    ref: int | str = entry_id if entry_id is not None else str(person)
    if not yes and not json_out:
        typer.confirm(
            f"Remove {'entry id ' + str(entry_id) if entry_id is not None else 'person ' + repr(person)} "
            f"from {name!r} with their photos and embeddings?",
            abort=True,
        )
    out = watchlists.remove_entry(_ctx(), name, ref, settings().actor)
    emit_json(out) if json_out else typer.echo(
        f"removed {out.person_id!r} (entry {out.entry_id}): {out.images} images, {out.embeddings} embeddings"
    )


def _summary(result: EnrolResult, json_out: bool) -> None:
    d = result.summary()
    if json_out:
        emit_json(d)
        return
    typer.echo(f"enrolled {d.accepted_images} image(s) of {d.people} people; rejected {d.rejected_images}")
    for reason, n in sorted(d.rejected_by_reason.items(), key=lambda kv: -kv[1]):
        typer.echo(f"  {n}\t{reason}")
    for r in d.rejected[:50]:
        typer.echo(f"  - {r.source}: {r.reason}", err=True)


@wl_app.command("add")
def add(
    name: str,
    person: Annotated[str, typer.Option("--person", help="Person id (unique in the list).")],
    image: Annotated[list[Path], typer.Option("--image", help="Photo file; repeat for several.")],
    display_name: Annotated[str, typer.Option("--name", help="Display name.")] = "",
    category: Annotated[str, typer.Option(help="Category, e.g. wanted, missing.")] = "",
    reason: Annotated[str, typer.Option(help="Why this person is on the list.")] = "",
    json_out: JsonOpt = False,
) -> None:
    """Enrol one person's photos."""
    from openlfr.services import watchlists

    ctx = _ctx()
    res = watchlists.add_person(
        ctx, name, person, image, ctx.settings.actor, display_name=display_name, category=category, reason=reason
    )
    _summary(res, json_out)
    if res.accepted == 0:
        raise typer.Exit(1)


@wl_app.command("import")
def import_(
    name: str,
    folder: Path,
    limit: Annotated[int | None, typer.Option(help="Only the first N people (name order).")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Import a folder with one subfolder per person (the subfolder name is the person id)."""
    from openlfr.services import watchlists

    ctx = _ctx()
    res = watchlists.import_folder(
        ctx,
        name,
        folder,
        ctx.settings.actor,
        limit=limit,
        wrap=lambda it, n: progress(it, n, "enrolling", quiet=json_out),
    )
    _summary(res, json_out)


def register(app: typer.Typer) -> None:
    app.add_typer(wl_app, name="watchlist")
