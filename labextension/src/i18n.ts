/**
 * The extension's strings go through JupyterLab's ITranslator (domain "mlnb"): `__('…')`
 * everywhere, the bundle set once when the plugin activates.
 */
import { ITranslator, nullTranslator, TranslationBundle } from '@jupyterlab/translation';

let bundle: TranslationBundle = nullTranslator.load('mlnb');

/** Use the translator JupyterLab gives the plugin. */
export function setTranslator(translator: ITranslator | null): void {
  bundle = (translator ?? nullTranslator).load('mlnb');
}

/** Translate `text`; `%1`, `%2`… are replaced by `args`. */
export function __(text: string, ...args: (string | number)[]): string {
  return bundle.__(text, ...args);
}

/** Singular or plural by `n`; `%1` is replaced by `n`. */
export function _n(singular: string, plural: string, n: number): string {
  return bundle._n(singular, plural, n, n);
}
