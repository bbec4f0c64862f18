namespace Herd.Agent.Tests.Permissions;

/// <summary>Corpus rows for both sandbox modes: each command once with the string checks alone, once with bubblewrap's context.</summary>
internal static class SandboxModes
{
    public static TheoryData<string, bool> Both(params string[] commands)
    {
        var data = new TheoryData<string, bool>();
        foreach (var c in commands)
        {
            data.Add(c, false);
            data.Add(c, true);
        }
        return data;
    }
}
