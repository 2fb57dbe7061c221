"""The file tools: read_file, write_file, edit_file, list_dir.

Each tool checks the path host-side first (`sandbox.mapping`: dotenv names,
`..`, absolute paths, symlinks leaving the workspace -> ACCESS DENIED), then
asks a leased sandbox worker, whose mount namespace is the real boundary.
The worker call has a deadline (`deadline`, counted from the lease, not
while waiting for one): a worker that does not answer in time is killed and
replaced, and the model gets a clear error.
Constructed as e.g. `ReadFileTool(pool=pool, workspace=host_workspace)`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

import attrs
import trio

from autobot.sandbox.errors import WorkerFailed
from autobot.sandbox.leaser import WorkerLeaser
from autobot.sandbox.mapping import PathRefused, workspace_relpath
from autobot.sandbox.worker import OpRefused, WorkerHandle
from autobot.security.paths import is_env_file_name
from autobot.tools.base import ToolContext, ToolResult, access_denied

READ_LIMIT_BYTES = 1_000_000
FILE_OP_SECONDS = 30.0  # a worker reads or writes a capped file in milliseconds


def _schema(**properties: str) -> Mapping[str, Any]:
    return {
        "type": "object",
        "properties": {
            name: {"type": "string", "description": text} for name, text in properties.items()
        },
        "required": list(properties),
    }


def refusal_text(exc: OpRefused, path: str) -> str:
    """The model-facing message for a worker refusal on `path`."""
    if exc.kind == "missing":
        return f"Error: not found: {path}"
    if exc.kind == "directory":
        return f"Error: {path} is a directory (use list_dir)"
    if exc.kind == "not_directory":
        return f"Error: {path} is not a directory"
    if exc.kind == "not_regular":
        kind = exc.detail.get("file_type", "a special file")
        return f"Error: {path} is {kind}, not a regular file; file tools only use regular files"
    if exc.kind == "binary":
        return f"Error: {path} has binary content and cannot be read as text"
    if exc.kind == "too_large":
        size = exc.detail.get("size")
        return f"Error: {path} is {size} bytes, over the {READ_LIMIT_BYTES}-byte read limit"
    if exc.kind == "match_count":
        count = int(exc.detail.get("count", 0))
        if count == 0:
            return f"Error: old_text not found in {path}"
        return f"Error: old_text occurs {count} times in {path}; it must occur exactly once (add context)"
    return f"Error: {exc}"


async def run_in_sandbox(
    *,
    pool: WorkerLeaser,
    workspace: Path,
    tool: str,
    path: str,
    ctx: ToolContext,
    operation: Callable[[WorkerHandle, str], Awaitable[str]],
    deadline: float = FILE_OP_SECONDS,
) -> ToolResult:
    """Shared shell of every file tool: check `path`, lease a worker, run
    `operation(worker, relpath)` within `deadline` seconds, and turn refusals
    into results. A call cut by the deadline leaves the worker broken, so the
    pool kills and replaces it on release."""
    try:
        relpath = workspace_relpath(workspace, path)
    except PathRefused as exc:
        return access_denied(ctx, tool, f"Error: {exc}")
    try:
        async with pool.lease() as worker:
            with trio.fail_after(deadline):
                return ToolResult.ok(await operation(worker, relpath))
    except OpRefused as exc:
        if exc.kind == "outside":
            return access_denied(ctx, tool, f"Error: path '{path}' is outside the workspace")
        return ToolResult.error(refusal_text(exc, path))
    except trio.TooSlowError:
        ctx.logger.warn("sandbox worker did not answer in time", tool=tool, seconds=deadline)
        return ToolResult.error(
            f"Error: {tool} on {path} did not finish within {deadline:g} seconds; "
            "the sandbox worker was killed and replaced"
        )
    except WorkerFailed as exc:
        ctx.logger.warn("sandbox worker failed", tool=tool, error=str(exc))
        return ToolResult.error("Error: the sandbox worker failed; it was replaced, please retry")


@attrs.define(kw_only=True)
class ReadFileTool:
    pool: WorkerLeaser
    workspace: Path
    deadline: float = FILE_OP_SECONDS
    name: str = "read_file"
    concurrency_safe: ClassVar[bool] = True  # read-only: may run beside other reads
    description: str = "Read a UTF-8 text file from the workspace."
    parameters: Mapping[str, Any] = _schema(path="File path, relative to the workspace")

    async def run(self, args: Mapping[str, Any], ctx: ToolContext) -> ToolResult:
        async def read(worker: WorkerHandle, relpath: str) -> str:
            return await worker.read_text(relpath, READ_LIMIT_BYTES)

        return await run_in_sandbox(
            pool=self.pool, workspace=self.workspace, tool=self.name, path=str(args["path"]),
            ctx=ctx, operation=read, deadline=self.deadline,
        )  # fmt: skip


@attrs.define(kw_only=True)
class WriteFileTool:
    pool: WorkerLeaser
    workspace: Path
    deadline: float = FILE_OP_SECONDS
    name: str = "write_file"
    description: str = "Write a text file in the workspace, creating parent directories."
    parameters: Mapping[str, Any] = _schema(
        path="File path, relative to the workspace", content="The full new content"
    )

    async def run(self, args: Mapping[str, Any], ctx: ToolContext) -> ToolResult:
        content = str(args["content"])

        async def write(worker: WorkerHandle, relpath: str) -> str:
            written = await worker.write_text(relpath, content)
            return f"Wrote {written} bytes to {args['path']}"

        return await run_in_sandbox(
            pool=self.pool, workspace=self.workspace, tool=self.name, path=str(args["path"]),
            ctx=ctx, operation=write, deadline=self.deadline,
        )  # fmt: skip


@attrs.define(kw_only=True)
class EditFileTool:
    pool: WorkerLeaser
    workspace: Path
    deadline: float = FILE_OP_SECONDS
    name: str = "edit_file"
    description: str = "Replace old_text, which must occur exactly once, with new_text."
    parameters: Mapping[str, Any] = _schema(
        path="File path, relative to the workspace",
        old_text="Exact text to replace (must occur exactly once)",
        new_text="Replacement text",
    )

    async def run(self, args: Mapping[str, Any], ctx: ToolContext) -> ToolResult:
        old, new = str(args["old_text"]), str(args["new_text"])
        if not old:
            return ToolResult.error("Error: old_text must not be empty")

        async def edit(worker: WorkerHandle, relpath: str) -> str:
            await worker.edit_text(relpath, old, new, READ_LIMIT_BYTES)
            return f"Edited {args['path']}"

        return await run_in_sandbox(
            pool=self.pool, workspace=self.workspace, tool=self.name, path=str(args["path"]),
            ctx=ctx, operation=edit, deadline=self.deadline,
        )  # fmt: skip


@attrs.define(kw_only=True)
class ListDirTool:
    pool: WorkerLeaser
    workspace: Path
    deadline: float = FILE_OP_SECONDS
    name: str = "list_dir"
    concurrency_safe: ClassVar[bool] = True  # read-only: may run beside other reads
    description: str = "List a workspace directory (sorted; directories end with '/')."
    parameters: Mapping[str, Any] = _schema(path="Directory path, relative to the workspace")

    async def run(self, args: Mapping[str, Any], ctx: ToolContext) -> ToolResult:
        async def listing(worker: WorkerHandle, relpath: str) -> str:
            entries = [
                f"{name}/" if is_dir else name
                for name, is_dir in await worker.list_dir(relpath)
                if not is_env_file_name(name)
            ]
            return "\n".join(entries) if entries else "Directory is empty"

        return await run_in_sandbox(
            pool=self.pool, workspace=self.workspace, tool=self.name, path=str(args["path"]),
            ctx=ctx, operation=listing, deadline=self.deadline,
        )  # fmt: skip
