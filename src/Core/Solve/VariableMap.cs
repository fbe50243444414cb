using Tomalign.Core.Backend;

namespace Tomalign.Core.Solve;

/// <summary>
/// The linear map from the solved (reduced) variables to the per-view parameter increments:
/// δ(view i, parameter p) = Σ w·δvariable over <see cref="Entries"/>[P·i + p], P = <see cref="Parameters"/> (5: rotation,
/// tilt, magnification, x and y shift; 7 with the distortion variables X-stretch and skew). Per-view, grouped,
/// linearly interpolated, global and fixed variables are all such maps.
/// </summary>
internal sealed class VariableMap
{
    private VariableMap(int count, int parameters, (int Var, double W)[][] entries, bool stretchPerView)
    {
        Count = count; Parameters = parameters; Entries = entries; StretchPerView = stretchPerView;
    }

    /// <summary>
    /// True when every view has an X-stretch variable of its own: then the stretches s_i = b·tan θ_i and a shear of the landmarks
    /// in z by x are an exact gauge freedom, which the solver pins (no stretch component along tan θ).
    /// </summary>
    public bool StretchPerView { get; }

    public int Count { get; }
    /// <summary>Parameters per view: 5, or 7 when stretch or skew are solved.</summary>
    public int Parameters { get; }
    public (int Var, double W)[][] Entries { get; }

    /// <summary>Variable of the x (p = 3) or y (p = 4) shift of view i, or −1.</summary>
    public int ShiftVariable(int view, int p) => Entries[Parameters * view + p].Length == 1 ? Entries[Parameters * view + p][0].Var : -1;

    /// <summary>
    /// Fewest observations for a view to get per-view rotation, tilt and magnification variables of its own: two points
    /// give four equations for the five view parameters, so below this a view's own variables would fit its points
    /// whatever they are (a rotation of 200° and a magnification of 1.85 from two beads). Such a view's per-view
    /// variables are interpolated from the nearest well-observed views on either side instead.
    /// </summary>
    public const int MinObservationsForOwnVariables = 4;

    public static VariableMap Build(int viewCount, int[] observations, VariableOption rotation, VariableOption tilt,
        VariableOption magnification, int reference, List<string>? notes, VariableOption? stretch = null, VariableOption? skew = null,
        IReadOnlyList<double>? tiltDegrees = null)
    {
        stretch ??= VariableOption.Fixed;
        skew ??= VariableOption.Fixed;
        int np = stretch.Mode == VariableMode.Fixed && skew.Mode == VariableMode.Fixed ? BundleLayout.ViewParameters : DistortionModel.AllParameters;
        var observed = observations.Select(c => c > 0).ToArray();
        var own = observations.Select(c => c >= MinObservationsForOwnVariables).ToArray();
        var weak = Enumerable.Range(0, viewCount).Where(i => observed[i] && !own[i]).ToArray();
        if (weak.Length > 0 && own.Any(o => o) && notes is not null
            && (rotation.Mode == VariableMode.PerView || tilt.Mode == VariableMode.PerView || magnification.Mode == VariableMode.PerView))
            notes.Add($"view(s) {string.Join(", ", weak)} have fewer than {MinObservationsForOwnVariables} observations: their per-view " +
                      "variables are interpolated from the nearest well-observed views");
        var entries = new List<(int, double)>[np * viewCount];
        for (int r = 0; r < entries.Length; r++) entries[r] = [];
        int count = 0;
        Add(BundleLayout.Rotation, rotation, false, "rotation");
        Add(BundleLayout.Tilt, tilt, true, "tilt");
        Add(BundleLayout.Magnification, magnification, true, "magnification");
        // Distortion: a change common to all views is absorbed by the landmarks (X → D⁻¹X), so the reference view's stretch
        // and skew stay 0 (tiltalign: "the reference view for magnification will be constrained to distortion values of 0").
        if (np == DistortionModel.AllParameters)
        {
            Add(DistortionModel.Stretch, stretch, true, "X-stretch");
            Add(DistortionModel.Skew, skew, true, "skew");
        }
        for (int i = 0; i < viewCount; i++)
        {
            if (!observed[i]) continue;
            entries[np * i + BundleLayout.ShiftX].Add((count++, 1.0));
            entries[np * i + BundleLayout.ShiftY].Add((count++, 1.0));
        }
        return new VariableMap(count, np, entries.Select(e => e.ToArray()).ToArray(), np == DistortionModel.AllParameters && stretch.Mode == VariableMode.PerView);

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
                        for (int i = 0; i < viewCount; i++) if (observed[i]) entries[np * i + p].Add((v, 1.0));
                        break;
                    }
                case VariableMode.PerView:
                    {
                        bool anyOwn = own.Any(o => o);
                        var variable = new int[viewCount];
                        for (int i = 0; i < viewCount; i++)
                        {
                            variable[i] = -1;
                            if (!observed[i] || (anyOwn && !own[i]) || (gaugeFixedAtReference && i == reference)) continue;
                            variable[i] = count++;
                            entries[np * i + p].Add((variable[i], 1.0));
                        }
                        if (!anyOwn) break;
                        // A weakly observed view follows its nearest well-observed neighbours (a fixed reference view anchors at zero change).
                        foreach (int i in weak)
                        {
                            if (gaugeFixedAtReference && i == reference) continue;
                            int a = i - 1, b = i + 1;
                            while (a >= 0 && !own[a] && !(gaugeFixedAtReference && a == reference)) a--;
                            while (b < viewCount && !own[b] && !(gaugeFixedAtReference && b == reference)) b++;
                            if (a < 0 && b >= viewCount) continue;
                            if (a < 0) { if (variable[b] >= 0) entries[np * i + p].Add((variable[b], 1.0)); continue; }
                            if (b >= viewCount) { if (variable[a] >= 0) entries[np * i + p].Add((variable[a], 1.0)); continue; }
                            double t = (double)(i - a) / (b - a);
                            if (variable[a] >= 0) entries[np * i + p].Add((variable[a], 1 - t));
                            if (variable[b] >= 0) entries[np * i + p].Add((variable[b], t));
                        }
                        break;
                    }
                case VariableMode.Grouped:
                    {
                        int g = option.GroupSize;
                        var bounds = option.CosinePower > 0 && tiltDegrees is not null ? TiltScaledBlocks(tiltDegrees, g, option.CosinePower) : null;
                        for (int start = 0; start < viewCount; start = bounds is null ? start + g : bounds[start])
                        {
                            int end = bounds is null ? Math.Min(viewCount, start + g) : bounds[start];
                            if (gaugeFixedAtReference && reference >= start && reference < end) continue;
                            int v = -1;
                            for (int i = start; i < end; i++)
                            {
                                if (!observed[i]) continue;
                                if (v < 0) v = count++;
                                entries[np * i + p].Add((v, 1.0));
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
                            if (k >= 0) { if (anchorVar[k] >= 0) entries[np * i + p].Add((anchorVar[k], 1.0)); continue; }
                            k = ~k; // list[k-1] < i < list[k]
                            int a = list[k - 1], b = list[k];
                            double t = (double)(i - a) / (b - a);
                            if (anchorVar[k - 1] >= 0) entries[np * i + p].Add((anchorVar[k - 1], 1 - t));
                            if (anchorVar[k] >= 0) entries[np * i + p].Add((anchorVar[k], t));
                        }
                        break;
                    }
            }
        }
    }

    /// <summary>
    /// tiltalign's dynamic automapping (its setGrpSize): view i has a relative group size gᵢ = cos(min(|tiltᵢ|, 80°))^power,
    /// scaled to average 1, and counts 1/gᵢ toward a block of <paramref name="size"/>: blocks of about size·gᵢ views, smaller at
    /// high tilt. Returns, for each view that starts a block, the end (exclusive) of its block.
    /// </summary>
    internal static int[] TiltScaledBlocks(IReadOnlyList<double> tiltDegrees, int size, double power)
    {
        int n = tiltDegrees.Count;
        var g = tiltDegrees.Select(t => Math.Pow(Math.Cos(Math.Min(Math.Abs(t), 80) * Math.PI / 180), power)).ToArray();
        double mean = g.Average();
        var end = new int[n];
        int start = 0;
        double units = 0;
        for (int i = 0; i < n; i++)
        {
            units += mean / g[i];
            if (units >= size - 1e-9 || i == n - 1)
            {
                end[start] = i + 1;
                start = i + 1;
                units = 0;
            }
        }
        return end;
    }
}
