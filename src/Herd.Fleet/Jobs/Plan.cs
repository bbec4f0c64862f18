using Herd.Fleet.Engines;
using System.Text.Json.Nodes;

namespace Herd.Fleet.Jobs;

/// <summary>Turns inputs into keyed tasks; identical keys collapse into one task with a warning (spec §3).</summary>
public static class Plan
{
    /// <param name="behaviour">The options that change the agent's behaviour (model, system prompt, tools, rules, schema, max turns).</param>
    /// <param name="warn">Receives one message per collapsed duplicate.</param>
    public static IReadOnlyList<FleetTask> Build(IReadOnlyList<TaskInput> inputs, string? template, string engine, JsonObject behaviour, Action<string> warn)
    {
        var tasks = new List<FleetTask>(inputs.Count);
        var seen = new Dictionary<string, FleetTask>(StringComparer.Ordinal);
        var canonicalBehaviour = TaskKey.Canonical(behaviour);
        WarnUnknownReplacements(inputs, template, warn);
        for (var i = 0; i < inputs.Count; i++)
        {
            var input = inputs[i];
            var seq = i + 1;
            var prompt = Template.Render(input.PromptTemplate ?? template ?? "{}", input, seq, slot: null);
            var options = canonicalBehaviour;
            if (input.Caps.MaxTurns is { } turns)
            {
                var own = (JsonObject)behaviour.DeepClone();
                own["max_turns"] = turns;
                options = TaskKey.Canonical(own);
            }
            var key = TaskKey.Compute(input.Caps.Engine?.Name() ?? engine, prompt, input.Values, input.Named, options);
            if (seen.TryGetValue(key, out var first))
            {
                warn($"herd: warning: task {seq} ({Describe(input)}) is identical to task {first.Seq} ({first.Name}); it runs once.");
                continue;
            }
            var name = input.Name ?? (input.Values.Count > 0 ? Template.InputText(input) : $"task-{seq}");
            var task = new FleetTask(seq, key, name, prompt, input.Values, input.Named, input.Caps);
            seen[key] = task;
            tasks.Add(task);
        }
        return tasks;
    }

    /// <summary>One warning per template and typo-looking token, e.g. <c>{fiel}</c> when the inputs name <c>file</c>.</summary>
    private static void WarnUnknownReplacements(IReadOnlyList<TaskInput> inputs, string? template, Action<string> warn)
    {
        var named = inputs.SelectMany(i => i.Named.Keys).ToHashSet(StringComparer.Ordinal);
        var templates = inputs.Select(i => i.PromptTemplate).Append(template).OfType<string>().Distinct(StringComparer.Ordinal);
        foreach (var t in templates)
        {
            foreach (var token in Template.UnknownReplacements(t, named))
            {
                var known = named.Count == 0 ? "" : $", or a named input ({string.Join(", ", named.Order(StringComparer.Ordinal).Select(n => "{" + n + "}"))})";
                warn($"herd: warning: the prompt uses {{{token}}}, which matches no input; it is left as written. Replacement strings are {{}} {{.}} {{/}} {{//}} {{/.}} {{#}} {{%}}{known}.");
            }
        }
    }

    private static string Describe(TaskInput input) => input.Name ?? Template.InputText(input);
}
