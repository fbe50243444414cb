using Tomalign.Core.Backend;

namespace Tomalign.Core.Solve;

/// <summary>
/// The linear map from the solved (reduced) variables to the per-view parameter increments:
/// δ(view i, parameter p) = Σ w·δvariable over <see cref="Entries"/>[5i + p]. Per-view, grouped,
/// linearly interpolated, global and fixed variables are all such maps.
/// </summary>
internal sealed class VariableMap
{
    private VariableMap(int count, (int Var, double W)[][] entries) { Count = count; Entries = entries; }

    public int Count { get; }
    public (int Var, double W)[][] Entries { get; }

    /// <summary>Variable of the x (p = 3) or y (p = 4) shift of view i, or −1.</summary>
    public int ShiftVariable(int view, int p) => Entries[5 * view + p].Length == 1 ? Entries[5 * view + p][0].Var : -1;

    public static VariableMap Build(int viewCount, bool[] observed, VariableOption rotation, VariableOption tilt,
        VariableOption magnification, int reference, List<string>? notes)
    {
        var entries = new List<(int, double)>[5 * viewCount];
        for (int r = 0; r < entries.Length; r++) entries[r] = [];
        int count = 0;
        Add(BundleLayout.Rotation, rotation, false, "rotation");
        Add(BundleLayout.Tilt, tilt, true, "tilt");
        Add(BundleLayout.Magnification, magnification, true, "magnification");
        for (int i = 0; i < viewCount; i++)
        {
            if (!observed[i]) continue;
            entries[5 * i + BundleLayout.ShiftX].Add((count++, 1.0));
            entries[5 * i + BundleLayout.ShiftY].Add((count++, 1.0));
        }
        return new VariableMap(count, entries.Select(e => e.ToArray()).ToArray());

        void Add(int p, VariableOption option, bool gaugeFixedAtReference, string name)
        {
            if (option.Mode is VariableMode.Grouped or VariableMode.Linear && option.GroupSize < 1)
                throw new TomalignInputException(null, $"the {name} group size is {option.GroupSize}", "give a group size of at least 1");
            switch (option.Mode)
            {
                case VariableMode.Auto:
                    throw new InvalidOperationException($"automatic {name} variables must be resolved (SolveOptions.ResolveAutomatic) before the solve");
                case VariableMode.Fixed:
                    break;
                case VariableMode.Global when gaugeFixedAtReference:
                    notes?.Add($"a single global {name} change is a gauge freedom with free landmarks; {name} held fixed");
                    break;
                case VariableMode.Global:
                    {
                        int v = count++;
                        for (int i = 0; i < viewCount; i++) if (observed[i]) entries[5 * i + p].Add((v, 1.0));
                        break;
                    }
                case VariableMode.PerView:
                    for (int i = 0; i < viewCount; i++)
                        if (observed[i] && !(gaugeFixedAtReference && i == reference)) entries[5 * i + p].Add((count++, 1.0));
                    break;
                case VariableMode.Grouped:
                    {
                        int g = option.GroupSize;
                        for (int start = 0; start < viewCount; start += g)
                        {
                            int end = Math.Min(viewCount, start + g);
                            if (gaugeFixedAtReference && reference >= start && reference < end) continue;
                            int v = -1;
                            for (int i = start; i < end; i++)
                            {
                                if (!observed[i]) continue;
                                if (v < 0) v = count++;
                                entries[5 * i + p].Add((v, 1.0));
                            }
                        }
                        break;
                    }
                case VariableMode.Linear:
                    {
                        int g = option.GroupSize;
                        var anchors = new SortedSet<int> { 0, viewCount - 1 };
                        for (int a = reference % g; a < viewCount; a += g) anchors.Add(a);
                        var list = anchors.ToArray();
                        var anchorVar = new int[list.Length];
                        for (int k = 0; k < list.Length; k++)
                            anchorVar[k] = gaugeFixedAtReference && list[k] == reference ? -1 : count++;
                        for (int i = 0; i < viewCount; i++)
                        {
                            if (!observed[i]) continue;
                            int k = Array.BinarySearch(list, i);
                            if (k >= 0) { if (anchorVar[k] >= 0) entries[5 * i + p].Add((anchorVar[k], 1.0)); continue; }
                            k = ~k; // list[k-1] < i < list[k]
                            int a = list[k - 1], b = list[k];
                            double t = (double)(i - a) / (b - a);
                            if (anchorVar[k - 1] >= 0) entries[5 * i + p].Add((anchorVar[k - 1], 1 - t));
                            if (anchorVar[k] >= 0) entries[5 * i + p].Add((anchorVar[k], t));
                        }
                        break;
                    }
            }
        }
    }
}
