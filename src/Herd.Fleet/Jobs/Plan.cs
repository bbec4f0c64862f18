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
        WarnUnknownReplacements(inputs, template, warn);
        return new PlanStream(inputs, template, engine, behaviour, warn).Tasks().ToArray();
    }

    /// <summary>One warning per template and typo-looking token, e.g. <c>{fiel}</c> when the inputs name <c>file</c>.</summary>
    public static void WarnUnknownReplacements(IReadOnlyList<TaskInput> inputs, string? template, Action<string> warn)
    {
        var named = inputs.SelectMany(i => i.Named.Keys).ToHashSet(StringComparer.Ordinal);
        WarnUnknownReplacements(named, inputs.Select(i => i.PromptTemplate).Append(template), warn);
    }

    /// <summary>One warning per template and typo-looking token, given the input names every task uses.</summary>
    public static void WarnUnknownReplacements(IReadOnlySet<string> named, IEnumerable<string?> templates, Action<string> warn)
    {
        foreach (var t in templates.OfType<string>().Distinct(StringComparer.Ordinal))
        {
            foreach (var token in Template.UnknownReplacements(t, named))
            {
                var known = named.Count == 0 ? "" : $", or a named input ({string.Join(", ", named.Order(StringComparer.Ordinal).Select(n => "{" + n + "}"))})";
                warn($"herd: warning: the prompt uses {{{token}}}, which matches no input; it is left as written. Replacement strings are {{}} {{.}} {{/}} {{//}} {{/.}} {{#}} {{%}}{known}.");
            }
        }
    }

}
