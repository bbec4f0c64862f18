using System.Text.Json;
using Herd.Agent.Tools;

namespace Herd.Agent.Tests;

/// <summary>A real temporary project folder (deleted afterwards) with a ToolContext rooted in it.</summary>
public sealed class TempProject : IDisposable
{
    public TempProject()
    {
        Root = Path.Combine(Path.GetTempPath(), "herd-tests-" + Guid.NewGuid().ToString("N"));
        Cwd = Path.Combine(Root, "project");
        Outside = Path.Combine(Root, "outside");
        Directory.CreateDirectory(Cwd);
        Directory.CreateDirectory(Outside);
        Context = new ToolContext(Cwd);
    }

    /// <summary>Holds <see cref="Cwd"/> and a sibling <see cref="Outside"/> folder that is not a working directory.</summary>
    public string Root { get; }

    public string Cwd { get; }

    public string Outside { get; }

    public ToolContext Context { get; }

    public string Write(string relative, string content)
    {
        var path = Path.Combine(Cwd, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, content);
        return path;
    }

    public static JsonElement Json(string json) => JsonDocument.Parse(json).RootElement.Clone();

    public static JsonElement Input(params (string Key, object? Value)[] props)
    {
        var obj = new System.Text.Json.Nodes.JsonObject();
        foreach (var (k, v) in props)
        {
            obj[k] = v switch
            {
                null => null,
                string s => s,
                int i => i,
                bool b => b,
                double d => d,
                _ => throw new ArgumentException(k),
            };
        }
        return Json(obj.ToJsonString());
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
