using System.Text.Json;
using System.Text.Json.Nodes;

namespace Herd.Agent.Tools;

/// <summary>A tool the model can call. Implementations are real: they touch real files and run real processes.</summary>
public interface ITool
{
    /// <summary>Claude Code's tool name (spec §10.1).</summary>
    string Name { get; }

    /// <summary>Constant for the instance: sessions cache a tool list's definitions (see Loop/ToolDefinitions).</summary>
    string Description { get; }

    /// <summary>A fresh copy of the JSON Schema of the tool's input (spec §10.2); constant for the instance, like <see cref="Description"/>.</summary>
    JsonObject InputSchema();

    /// <summary>True when the tool never changes anything (Read, Glob, Grep, LS).</summary>
    bool IsReadOnly { get; }

    Task<ToolResult> InvokeAsync(JsonElement input, ToolContext context, CancellationToken cancellationToken = default);
}

/// <summary>What a tool hands back: the text the model sees and the structured <c>tool_use_result</c>.</summary>
public sealed record ToolResult(string Content, bool IsError = false, JsonNode? Structured = null)
{
    /// <summary>An error as Claude Code reports it: wrapped for the model, <c>"Error: …"</c> for the transcript.</summary>
    public static ToolResult Error(string message) =>
        new($"<tool_use_error>{message}</tool_use_error>", true, JsonValue.Create("Error: " + message));

    /// <summary>Exit code of a process the tool ran, for the audit log; null when no process ran.</summary>
    public int? ExitCode { get; init; }
}
