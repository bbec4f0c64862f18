namespace Herd.Agent.IO;

/// <summary>
/// Resolves a path the way the kernel does (issue #9, path order): component by component, following each symlink
/// before the next component is applied, so <c>..</c> after a symlink climbs from the link's <em>target</em>.
/// <c>Path.GetFullPath</c> collapses <c>..</c> first and would read <c>src/lib/../../x</c> as <c>x</c> even when
/// <c>src/lib</c> points elsewhere and the kernel opens a file outside the project.
/// </summary>
public static class KernelPath
{
    private const int MaxLinks = 40; // Linux's own limit (ELOOP)

    /// <summary>The real path of an absolute path as written (with <c>.</c>/<c>..</c> left in); null on a symlink loop.</summary>
    /// <remarks>Components that do not exist are kept as written, since the kernel would fail there anyway.</remarks>
    public static string? Resolve(string path)
    {
        if (!path.StartsWith('/'))
            throw new ArgumentException("an absolute path is required", nameof(path));
        var pending = new Stack<string>();
        PushComponents(pending, path);
        var current = "/";
        var links = 0;
        while (pending.Count > 0)
        {
            var part = pending.Pop();
            if (part is "" or ".")
                continue;
            if (part == "..")
            {
                current = Parent(current);
                continue;
            }
            var next = current == "/" ? "/" + part : current + "/" + part;
            string? target;
            try
            {
                target = new FileInfo(next).LinkTarget;
            }
            catch (IOException)
            {
                target = null;
            }
            catch (UnauthorizedAccessException)
            {
                target = null;
            }
            if (target is null)
            {
                current = next;
                continue;
            }
            if (++links > MaxLinks)
                return null;
            if (target.StartsWith('/'))
                current = "/";
            PushComponents(pending, target);
        }
        return current;
    }

    private static void PushComponents(Stack<string> pending, string path)
    {
        var parts = path.Split('/');
        for (var i = parts.Length - 1; i >= 0; i--)
            pending.Push(parts[i]);
    }

    private static string Parent(string path)
    {
        if (path == "/")
            return "/";
        var at = path.LastIndexOf('/');
        return at <= 0 ? "/" : path[..at];
    }
}
