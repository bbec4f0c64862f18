namespace Herd.Agent.Tools;

/// <summary>The built-in tools by name, and the names Claude Code knows that Herd accepts in rules and --tools.</summary>
public static class ToolRegistry
{
    /// <summary>Every name Claude Code has used for a tool (spec §10.1); rules naming them are valid even when Herd lacks the tool.</summary>
    public static readonly IReadOnlySet<string> KnownNames = new HashSet<string>(StringComparer.Ordinal)
    {
        "Agent", "Task", "Bash", "Glob", "Grep", "Read", "Edit", "Write", "LS", "NotebookEdit", "NotebookRead", "WebFetch",
        "WebSearch", "TodoWrite", "TodoRead", "TaskOutput", "TaskStop", "ExitPlanMode", "Skill", "MultiEdit", "ListAgents",
        "ReportFindings", "ScheduleWakeup", "ToolSearch", "Workflow", "DeferredToolPlaceholder", "StructuredOutput",
    };

    /// <summary>
    /// Herd's built-in tools, fresh instances. The tools hold no state of their own (a conversation's state lives in
    /// <see cref="ToolContext"/>), so one instance may serve many concurrent sessions.
    /// </summary>
    public static IReadOnlyList<ITool> BuiltIns() =>
        [new BashTool(), new EditTool(), new GlobTool(), new GrepTool(), new LsTool(), new ReadTool(), new WriteTool()];
}
