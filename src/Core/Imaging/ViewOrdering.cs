namespace Tomalign.Core.Imaging;

/// <summary>
/// Views whose angles are not in increasing order (a stack written in acquisition order, as dose-symmetric schemes
/// write it) are put in tilt order for every stage, which all assume that neighbouring views are neighbours in tilt;
/// outputs are then in sorted order, or back in the input order on request (<c>--keep-order</c>).
/// </summary>
public sealed class ViewOrdering
{
    private ViewOrdering(int[] sortedToInput)
    {
        SortedToInput = sortedToInput;
        InputToSorted = new int[sortedToInput.Length];
        for (int k = 0; k < sortedToInput.Length; k++) InputToSorted[sortedToInput[k]] = k;
    }

    /// <summary>Input view index of each sorted position.</summary>
    public int[] SortedToInput { get; }
    /// <summary>Sorted position of each input view.</summary>
    public int[] InputToSorted { get; }
    /// <summary>True when the input was already in increasing tilt order (nothing moves).</summary>
    public bool IsIdentity => SortedToInput.Select((v, k) => v == k).All(x => x);

    /// <summary>The order that sorts <paramref name="tilts"/> increasingly (stable for equal angles).</summary>
    /// <exception cref="TomalignInputException">Two views have the same tilt angle (a duplicated line in the angle file).</exception>
    public static ViewOrdering For(IReadOnlyList<double> tilts, string? anglesPath = null)
    {
        ArgumentNullException.ThrowIfNull(tilts);
        var order = Enumerable.Range(0, tilts.Count).OrderBy(i => tilts[i]).ToArray();
        for (int k = 1; k < order.Length; k++)
            if (Math.Abs(tilts[order[k]] - tilts[order[k - 1]]) < 1e-6)
                throw new TomalignInputException(anglesPath, $"views {order[k - 1] + 1} and {order[k] + 1} (1-based) have the same tilt angle {tilts[order[k]]:G6}°",
                    "give each view its own tilt angle (a repeated line in the angle file?)");
        return new ViewOrdering(order);
    }

    /// <summary>The values in sorted order.</summary>
    public T[] ToSorted<T>(IReadOnlyList<T> input) => SortedToInput.Select(i => input[i]).ToArray();

    /// <summary>Values given in sorted order, back in input order.</summary>
    public T[] ToInput<T>(IReadOnlyList<T> sorted) => InputToSorted.Select(k => sorted[k]).ToArray();

    /// <summary>A view index of the input, as a sorted position.</summary>
    public int SortedIndex(int inputView) => InputToSorted[inputView];

    /// <summary>The stack with its views in sorted order (the same object when nothing moves).</summary>
    public ImageStack ToSorted(ImageStack stack)
    {
        ArgumentNullException.ThrowIfNull(stack);
        if (stack.Nz != SortedToInput.Length) throw new ArgumentException($"{stack.Nz} views for an ordering of {SortedToInput.Length}");
        if (IsIdentity) return stack;
        var sorted = new ImageStack(stack.Nx, stack.Ny, stack.Nz);
        for (int k = 0; k < stack.Nz; k++) stack.ReadView(SortedToInput[k]).CopyTo(sorted.View(k));
        return sorted;
    }
}
